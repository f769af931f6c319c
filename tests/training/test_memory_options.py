"""The real model on one accelerator: gradient accumulation, recomputation,
float16 with loss scaling, and the memory plan checked before step 1."""

import dataclasses
import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from rembert_tf.configs import load_config
from rembert_tf.modeling import checkpoints
from rembert_tf.pretraining import run as pretraining
from rembert_tf.training import distribution
from rembert_tf.training import memory_plan
from rembert_tf.training import params as params_lib
from tests.conftest import tiny_config
from tests.training.conftest import ROOT

_BATCH, _SEQ, _PREDICTIONS = 8, 12, 3


def _batch() -> dict[str, tf.Tensor]:
  """A fixed batch with some zero-weight predictions (uneven real counts)."""
  rng = np.random.default_rng(0)
  ids = rng.integers(3, 61, (_BATCH, _SEQ)).astype(np.int32)
  positions = np.sort(np.stack([
      rng.choice(np.arange(1, _SEQ), _PREDICTIONS, replace=False)
      for _ in range(_BATCH)]), 1).astype(np.int32)
  weights = (rng.random((_BATCH, _PREDICTIONS)) > 0.3).astype(np.float32)
  return {k: tf.constant(v) for k, v in {
      "input_word_ids": ids, "input_mask": np.ones_like(ids),
      "input_type_ids": np.zeros_like(ids), "masked_lm_positions": positions,
      "masked_lm_ids": np.take_along_axis(ids, positions, 1),
      "masked_lm_weights": weights}.items()}


def _trainer(config=None, **overrides):
  params = pretraining.PretrainingParams(**{
      "config_file": "", "input_dir": "", "model_dir": "unused",
      "train_batch_size": _BATCH, "max_seq_length": _SEQ,
      "max_predictions_per_seq": _PREDICTIONS, "num_train_steps": 100,
      "num_warmup_steps": 0, "seed": 3, **overrides})
  return pretraining.build_trainer(params, config or tiny_config())


def _train(steps: int, **overrides):
  """Per-step losses and the trainer, `steps` steps on the fixed batch."""
  trainer = _trainer(**overrides)
  batch = _batch()

  @tf.function
  def step():
    trainer.strategy.run(trainer.step.replica_train_step, args=(batch,))
  losses = []
  for _ in range(steps):
    step()
    losses.append(trainer.step.read_and_reset_metrics()[0])
  tf_keras.mixed_precision.set_global_policy("float32")
  return losses, trainer


def _weights(trainer) -> list[np.ndarray]:
  return [v.numpy() for v in trainer.model.trainable_variables]


def test_micro_batches_equal_one_batch():
  """4 micro-batches of 2 are one batch of 8: the mean over all real
  predictions, the clip of the summed gradient, the schedule."""
  # A tight clip, so that clipping the wrong (per micro-batch) sum shows.
  whole, one = _train(3, learning_rate=1e-2, clip_norm=0.05)
  micro, accumulated = _train(3, learning_rate=1e-2, clip_norm=0.05,
                              gradient_accumulation_steps=4)
  np.testing.assert_allclose(micro, whole, rtol=1e-6)
  for a, b in zip(_weights(one), _weights(accumulated)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  assert int(accumulated.optimizer.iterations) == 3  # Steps, not micro-steps.
  assert accumulated.step.compiled_forward_backward \
      .experimental_get_tracing_count() == 1


def test_micro_batch_must_divide():
  with pytest.raises(distribution.StrategyError,
                     match="--gradient_accumulation_steps=3 does not divide "
                           "the 8 examples per replica"):
    _trainer(gradient_accumulation_steps=3)


def test_recomputed_layers_give_the_same_gradients():
  plain, recomputed = _trainer(), _trainer(recompute_layers=True)
  assert recomputed.model.encoder.recompute_layers
  assert "recompute_layers" not in json.dumps(
      recomputed.model.encoder.get_config(), default=str)
  batch = _batch()
  results = []
  for trainer in (plain, recomputed):
    forward_backward = tf.function(trainer.step.compiled_forward_backward
                                   .python_function)
    grads, _ = forward_backward(batch)
    results.append([tf.convert_to_tensor(g).numpy() for g in grads])
    graph = forward_backward.get_concrete_function(batch).graph.as_graph_def()
    ops = [n.op for n in graph.node] + [
        n.op for f in graph.library.function for n in f.node_def]
    results[-1].append(ops.count("Softmax"))
  assert results[0].pop() == 3 and results[1].pop() == 6  # Run twice.
  for a, b in zip(*results):
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_recompute_refuses_layer_dropout():
  with pytest.raises(params_lib.TrainingParamsError,
                     match="--recompute_layers needs a config without dropout"):
    _trainer(tiny_config(hidden_dropout_prob=0.1), recompute_layers=True)


def test_float16_trains_like_float32():
  """adam_epsilon=1 makes Adam's update proportional to the gradient, so a
  loss scale left in (or divided out twice) would change the losses."""
  settings = dict(learning_rate=1.0, adam_epsilon=1.0)
  float32, _ = _train(10, **settings)
  float16, trainer = _train(10, dtype="float16", **settings)
  np.testing.assert_allclose(float16, float32, rtol=0.02)
  assert float16[-1] < 0.95 * float16[0]
  assert type(trainer.optimizer).__name__ == "LossScaleOptimizerV3"
  # 2^15 per example of the micro-batch of 8, no overflow, no skipped step.
  assert float(trainer.optimizer.loss_scale) == 2.0 ** 12


def test_float16_overflow_skips_the_step():
  trainer = _trainer(dtype="float16")
  tf_keras.mixed_precision.set_global_policy("float32")
  optimizer = trainer.optimizer
  optimizer._loss_scale.current_loss_scale.assign(2.0 ** 100)  # pylint: disable=protected-access
  batch = _batch()
  state = lambda: [v.numpy() for v in trainer.model.trainable_variables
                   + optimizer.inner_optimizer.variables[1:]]
  before = state()
  tf.function(lambda: trainer.strategy.run(trainer.step.replica_train_step,
                                           args=(batch,)))()
  for a, b in zip(before, state()):  # Weights and both Adam slots.
    np.testing.assert_array_equal(a, b)
  assert float(optimizer.loss_scale) == 2.0 ** 99
  assert int(optimizer.iterations) == 1  # The step is counted, not applied.


def test_plan_is_logged_and_a_run_that_cannot_fit_stops_first(
    mlm_data, tmp_path, monkeypatch, caplog):
  params = pretraining.PretrainingParams(
      config_file=mlm_data.config_file, input_dir=mlm_data.data_dir,
      model_dir=str(tmp_path / "fits"), train_batch_size=8,
      max_seq_length=32, max_predictions_per_seq=5, num_train_steps=2,
      num_warmup_steps=0, gradient_accumulation_steps=2)
  with caplog.at_level(logging.INFO, logger="absl"):
    assert pretraining.run_pretraining(params)["step"] == 2
  assert ("memory plan per replica: float32, 4 examples x 2 micro-batch(es), "
          "seq 32, 5 predictions, recompute off: parameters ") in caplog.text
  assert "fits " in caplog.text and "of the CPU's RAM" in caplog.text
  # A device too small for 8 examples at once.
  plan = memory_plan.plan(memory_plan.Workload(
      config=load_config(mlm_data.config_file), seq_length=32,
      micro_batch_size=8, mlm_predictions=5))
  small = int((plan.peak - plan.activations / 2) / memory_plan.HEADROOM)
  assert not plan.fits(small)
  monkeypatch.setattr(distribution, "device_memory",
                      lambda strategy: (small, "a small device"))
  with pytest.raises(params_lib.TrainingParamsError,
                     match=r"--train_batch_size=8: the step needs .* does not "
                           r"fit .* of a small device; it fits with "
                           r"(--recompute_layers|--gradient_accumulation)"):
    pretraining.run_pretraining(dataclasses.replace(
        params, model_dir=str(tmp_path / "small"),
        gradient_accumulation_steps=1))
  assert not (tmp_path / "small" / "ckpt-2.index").exists()


# Runs in a fresh process: logical CPU devices must be set before TF starts.
_MIRRORED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tests.training import test_memory_options as t
    from rembert_tf.training.input_feed import InputFeed
    results = {}
    for name, strategy, steps in (("whole", "one_device", 1),
                                  ("micro", "mirrored", 2)):
      trainer = t._trainer(distribution_strategy=strategy, learning_rate=1e-2,
                           clip_norm=0.05, gradient_accumulation_steps=steps)
      batch = t._batch()
      feed = InputFeed(trainer.strategy, lambda _: (
          lambda ctx: tf.data.Dataset.from_tensors(batch).repeat()), 8, 0)
      @tf.function
      def step():
        trainer.strategy.run(trainer.step.replica_train_step,
                             args=(feed.next(),))
      step(); step()
      results[name] = {
          "replicas": trainer.strategy.num_replicas_in_sync,
          "weights": [v.numpy().tolist()
                      for v in trainer.model.trainable_variables],
          "loss": trainer.step.read_and_reset_metrics()[0]}
    print(json.dumps(results))
""")


def test_mirrored_micro_batches_equal_one_device_batch():
  """2 replicas x 2 micro-batches of 2 are one batch of 8 on one device."""
  result = subprocess.run(
      [sys.executable, "-c", _MIRRORED], cwd=ROOT, capture_output=True,
      text=True, timeout=300, env={**os.environ, "PYTHONPATH": ROOT},
      check=True)
  results = json.loads(result.stdout.strip().splitlines()[-1])
  whole, micro = results["whole"], results["micro"]
  assert (whole["replicas"], micro["replicas"]) == (1, 2)
  assert whole["loss"] == pytest.approx(micro["loss"], rel=1e-6)
  for a, b in zip(whole["weights"], micro["weights"]):
    np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-6)


def test_resuming_with_another_dtype_names_the_flag(tmp_path):
  """float16's LossScaleOptimizer saves a structure the others do not."""
  model_dir = str(tmp_path / "run")
  trainer = _trainer(model_dir=model_dir)
  tf.train.CheckpointManager(trainer.checkpoint, model_dir, 1).save()
  tf_keras.mixed_precision.set_global_policy("float32")
  resumed = _trainer(model_dir=model_dir, dtype="float16")
  tf_keras.mixed_precision.set_global_policy("float32")
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match=r"ckpt-1: its optimizer state does not match this "
                     r"run's \(--dtype=float16.*Resume with the --dtype it was "
                     r"trained with"):
    resumed.resume()
