r"""Peak memory of a training step of RemBERT's real layers: measured vs planned.

The memory suite of `bench/run_benchmarks.py` (the one command; it prints the
table). Each job runs in a fresh process:

  python bench/bench_memory.py --worker IMPL BATCH ACCUMULATION RECOMPUTE

on the released model's shapes (H 1152, 18 heads, FFN 4608, Ein 256, Eout
1664, V 250,300, sequence 512, 80 masked positions) with as many layers as a
shared 24 GB machine allows: our pre-training step (forward, MLM loss, backward,
clip, AdamW) with and without --recompute_layers and
--gradient_accumulation_steps, against Hugging Face's PyTorch
RemBertForMaskedLM (masked positions only, AdamW) with and without
`gradient_checkpointing_enable()`. A job reports its peak RSS, the RSS after
importing its framework (the baseline the step's memory is measured from), for
ours TensorFlow's allocator peak, and the memory plan's prediction
(`rembert_tf.training.memory_plan`). Jobs run with glibc's mmap threshold fixed
at 1 MiB, so that freed tensors go back to the system and RSS follows the
memory in use (with the default, dynamic threshold RSS keeps freed memory and
the recomputation's saving does not show).

`released_model_table` is the plan alone: what fine-tuning the released model
(32 layers, 575M parameters, sequence 512) needs on a 24, 40 and 80 GB GPU at
the paper's batch sizes (Table 15).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
from typing import Any

import bench_pretraining

LAYERS = 2  # With V = 250,300, each job's peak stays near 11 GB.
CONFIG = dict(vocab_size=250300, input_embedding_size=256, hidden_size=1152,
              num_hidden_layers=LAYERS, num_attention_heads=18,
              intermediate_size=4608, output_embedding_size=1664,
              seq_length=512, batch_size=8, masked=80)
# (implementation, accumulation steps, recomputation), each on CONFIG's batch:
# 8 examples, enough that activations, not the optimizer, set the peak.
JOBS = [("ours", 1, False), ("ours", 1, True), ("ours", 4, False),
        ("ours", 4, True), ("hf_masked", 1, False), ("hf_masked", 1, True)]
GPUS_GIB = (24, 40, 80)
FINETUNING_BATCHES = (64, 128)
MMAP_THRESHOLD = str(2 ** 20)


def _rss_bytes() -> int:
  with open("/proc/self/status", encoding="ascii") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) * 1024
  raise RuntimeError("no VmRSS in /proc/self/status")


def _plan(accumulation: int, recompute: bool) -> dict[str, float]:
  from rembert_tf.modeling.config import RemBertConfig  # pylint: disable=g-import-not-at-top
  from rembert_tf.training import memory_plan  # pylint: disable=g-import-not-at-top
  plan = memory_plan.plan(memory_plan.Workload(
      config=RemBertConfig(**bench_pretraining.model_config(CONFIG)),
      seq_length=CONFIG["seq_length"], mlm_predictions=CONFIG["masked"],
      micro_batch_size=CONFIG["batch_size"] // accumulation,
      accumulation_steps=accumulation, recompute_layers=recompute))
  return {"plan_peak_mib": plan.peak / 2 ** 20,
          "plan_needed_mib": plan.needed / 2 ** 20}


def worker(impl: str, accumulation: int, recompute: bool,
           steps: int = 2) -> dict[str, Any]:
  """Runs `steps` steps of one job in this process; returns its row."""
  row: dict[str, Any] = {"impl": impl, "accumulation": accumulation,
                         "recompute": recompute}
  if impl == "ours":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from rembert_tf.pretraining import run  # pylint: disable=g-import-not-at-top,unused-import
    tf.zeros([]).numpy()  # The runtime started: part of the baseline.
    baseline = _rss_bytes()
    step, _ = bench_pretraining.ours_step(
        "train", CONFIG, gradient_accumulation_steps=accumulation,
        recompute_layers=recompute)
    row.update(_plan(accumulation, recompute))
  else:
    import torch  # pylint: disable=g-import-not-at-top,unused-import
    import transformers  # pylint: disable=g-import-not-at-top,unused-import
    baseline = _rss_bytes()
    step, _ = bench_pretraining.torch_step(
        impl, "train", CONFIG, gradient_checkpointing=recompute)
  for _ in range(steps):
    step()
  if impl == "ours":
    row["allocator_peak_mib"] = tf.config.experimental.get_memory_info(
        "CPU:0")["peak"] / 2 ** 20
  row["baseline_mib"] = baseline / 2 ** 20
  row["peak_rss_mib"] = resource.getrusage(
      resource.RUSAGE_SELF).ru_maxrss / 1024
  row["step_mib"] = row["peak_rss_mib"] - row["baseline_mib"]
  return row


def run_suite() -> dict[str, Any]:
  """Every job once, each in a fresh process; rows and the plan table."""
  rows = []
  for impl, accumulation, recompute in JOBS:
    print(f"memory {impl} accumulation={accumulation} recompute={recompute}",
          file=sys.stderr, flush=True)
    env = {**bench_pretraining.job_env(),
           "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD}
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", impl,
         str(accumulation), str(int(recompute))], env=env,
        capture_output=True, text=True, check=False)
    if out.returncode:
      raise SystemExit(f"memory job {impl} failed:\n{out.stderr[-3000:]}")
    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
  return {"config": CONFIG, "rows": rows, "released": released_model_table()}


def mode_name(row: dict[str, Any]) -> str:
  parts = ["train"]
  if row["accumulation"] > 1:
    parts.append(f"accumulate {row['accumulation']}")
  if row["recompute"]:
    parts.append("recompute" if row["impl"] == "ours" else "checkpointing")
  return ", ".join(parts)


def released_model_table() -> list[dict[str, Any]]:
  """For each GPU, batch and dtype: the fewest accumulation steps that fit,
  without and with recomputation (fine-tuning the released model at 512)."""
  from rembert_tf.configs import load_config  # pylint: disable=g-import-not-at-top
  from rembert_tf.training import memory_plan  # pylint: disable=g-import-not-at-top
  config = load_config("rembert").for_finetuning()
  table = []
  for gib in GPUS_GIB:
    for batch in FINETUNING_BATCHES:
      for dtype in ("bfloat16", "float32"):
        entry = {"gpu_gib": gib, "batch": batch, "dtype": dtype}
        for recompute in (False, True):
          entry[f"recompute_{recompute}"] = None
          for steps in (n for n in range(1, batch + 1) if batch % n == 0):
            plan = memory_plan.plan(memory_plan.Workload(
                config=config, seq_length=512, micro_batch_size=batch // steps,
                accumulation_steps=steps, recompute_layers=recompute,
                dtype=dtype))
            if plan.fits(gib * memory_plan.GIB):
              entry[f"recompute_{recompute}"] = {
                  "accumulation": steps, "micro_batch": batch // steps,
                  "peak_gib": plan.peak / memory_plan.GIB}
              break
        table.append(entry)
  return table


def format_released(table: list[dict[str, Any]]) -> str:
  def cell(choice):
    if choice is None:
      return "does not fit"
    return (f"{choice['accumulation']} x {choice['micro_batch']} "
            f"({choice['peak_gib']:.1f} GiB)")
  lines = ["Fine-tuning the released model (575M, 32 layers, seq 512) on one "
           "GPU, from the plan (90% of the memory usable): accumulation steps "
           "x micro-batch (planned peak)",
           "GPU    batch  dtype     recompute off              recompute on"]
  for e in table:
    lines.append(f"{e['gpu_gib']:>2} GB  {e['batch']:>5}  {e['dtype']:<8}  "
                 f"{cell(e['recompute_False']):<25}  "
                 f"{cell(e['recompute_True'])}")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--worker", nargs=3,
                      metavar=("IMPL", "ACCUMULATION", "RECOMPUTE"))
  args = parser.parse_args()
  if not args.worker:
    parser.error("run bench/run_benchmarks.py --suites=memory; this file "
                 "holds its jobs")
  impl, accumulation, recompute = args.worker
  print(json.dumps(worker(impl, int(accumulation), recompute == "1")))


if __name__ == "__main__":
  main()
