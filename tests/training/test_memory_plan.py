"""The memory plan's arithmetic: its terms, the flags' effects, the verdict."""

import dataclasses

import pytest

from rembert_tf.configs import load_config
from rembert_tf.modeling import param_count
from rembert_tf.training import memory_plan

GIB = memory_plan.GIB
REMBERT = load_config("rembert")


def _finetuning(**changes) -> memory_plan.Workload:
  values = dict(config=REMBERT, seq_length=512, micro_batch_size=8)
  return memory_plan.Workload(**{**values, **changes})


def test_persistent_terms_are_the_parameter_counts():
  pretraining = memory_plan.plan(_finetuning(mlm_predictions=80))
  params = param_count.pretraining_params(REMBERT)
  assert pretraining.parameters == pretraining.gradients == 4 * params
  assert pretraining.optimizer_slots == 8 * params
  assert pretraining.accumulators == 0
  finetuning = memory_plan.plan(_finetuning(accumulation_steps=2))
  assert finetuning.parameters == 4 * param_count.encoder_params(REMBERT)
  assert finetuning.accumulators == finetuning.parameters
  # Mixed precision keeps float32 variables: the same persistent memory.
  mixed = memory_plan.plan(_finetuning(dtype="bfloat16"))
  assert mixed.parameters + mixed.optimizer_slots == (
      finetuning.parameters + finetuning.optimizer_slots)


@pytest.mark.parametrize("dtype,per_token", [
    # S*H * (6c + 8) + S*F * 4c + N*S^2 * (4 [+ c]), over S tokens.
    ("float32", 1152 * 32 + 4608 * 16 + 18 * 512 * 4),
    ("bfloat16", 1152 * 20 + 4608 * 8 + 18 * 512 * 6),
    ("float16", 1152 * 20 + 4608 * 8 + 18 * 512 * 6)])
def test_one_layer_keeps_what_the_module_says(dtype, per_token):
  deeper, shallower = (
      memory_plan.plan(_finetuning(dtype=dtype, config=REMBERT.replace(
          num_hidden_layers=n))).activations_per_example for n in (2, 1))
  assert deeper - shallower == 512 * per_token


def test_recomputation_keeps_only_layer_inputs():
  plain = memory_plan.plan(_finetuning(micro_batch_size=64))
  recomputed = memory_plan.plan(_finetuning(micro_batch_size=64,
                                            recompute_layers=True))
  embeddings = 512 * 256 * 8 + 512 * 1152 * 4
  assert recomputed.activations_per_example == embeddings + 32 * 512 * 1152 * 4
  # One layer's activations exist again while its backward pass runs.
  assert recomputed.peak_at == plain.peak_at == "top layer's backward pass"
  assert recomputed.peak < plain.peak / 8


def test_accumulation_trades_activations_for_accumulators():
  whole = memory_plan.plan(_finetuning(micro_batch_size=32))
  micro = memory_plan.plan(_finetuning(micro_batch_size=8,
                                       accumulation_steps=4))
  assert micro.activations == whole.activations // 4
  assert micro.accumulators == micro.parameters
  assert micro.peak < whole.peak


def test_pretraining_peaks_at_the_head_with_the_output_embedding_gradient():
  p = memory_plan.plan(_finetuning(micro_batch_size=1, mlm_predictions=80,
                                   recompute_layers=True))
  gradient = (REMBERT.vocab_size * REMBERT.output_embedding_size
              + REMBERT.vocab_size) * 4
  assert p.peak_at in ("MLM head's backward pass", "optimizer update")
  assert p.peak >= 3 * p.parameters + gradient


def test_describe_names_every_term():
  line = memory_plan.plan(_finetuning(dtype="bfloat16", accumulation_steps=2,
                                      recompute_layers=True)).describe()
  assert line.startswith("bfloat16, 8 examples x 2 micro-batch(es), seq 512, "
                         "recompute on: parameters 2.14 GiB, gradients ")
  for term in ("accumulators 2.14 GiB", "Adam slots 4.28 GiB",
               "MiB/example", "; peak ", " needed with the runtime's share"):
    assert term in line


def test_verdict_names_the_flags_that_make_it_fit():
  p = memory_plan.plan(_finetuning(micro_batch_size=64))
  assert p.needed == int(p.peak / memory_plan.HEADROOM)
  assert memory_plan.verdict(p, 200 * GIB, "GPU:0").startswith("fits ")
  verdict = memory_plan.verdict(p, 24 * GIB, "GPU:0")
  assert verdict.startswith("does not fit 24.00 GiB of GPU:0; it fits with "
                            "--gradient_accumulation_steps=")
  assert verdict.endswith(", or with --recompute_layers")
  fix = verdict.split("it fits with ")[1].split(",")[0]
  n = int(fix.split("=")[1])
  assert memory_plan.plan(dataclasses.replace(
      p.workload, micro_batch_size=64 // n, accumulation_steps=n)).fits(
          24 * GIB)
  assert not memory_plan.plan(dataclasses.replace(
      p.workload, micro_batch_size=64 // (n // 2),
      accumulation_steps=n // 2)).fits(24 * GIB)  # The fewest steps.
  hopeless = memory_plan.verdict(p, 9 * GIB, "GPU:0")
  assert "not even with --recompute_layers and one example" in hopeless
