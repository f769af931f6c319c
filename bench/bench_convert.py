"""Benchmark: convert a full-size RemBERT checkpoint in the original TF1 layout.

Writes a randomly initialised model of the released config (995M parameters,
`bert/...` names, optionally with Adam slots like the real 12 GB file), then runs
`python -m rembert_tf.convert tf1` on it in a child process and prints the wall
time and the converter's peak resident memory against the float32 model size
(target: below 1.5x).

  python bench/bench_convert.py --workdir /tmp/rembert_bench [--adam_slots] \
      [--json_out=out/bench/convert.json]

Needs about 4 GB of disk (12 GB with --adam_slots) plus 4 GB for the output.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))


def write_original_layout(config_name: str, prefix: str,
                          adam_slots: bool) -> int:
  """Writes the checkpoint one tensor at a time; returns its parameter count.

  Runs in its own process (`--write_only`): the measuring parent must stay
  small, since a child's peak RSS includes the parent image it was forked from.
  """
  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, ROOT)
  import numpy as np
  import tensorflow as tf

  from rembert_tf import model_folder
  from rembert_tf.configs import load_config
  from rembert_tf.convert import importer
  from rembert_tf.convert import name_map
  from rembert_tf.modeling.checkpoints import variable_keys
  # pylint: enable=g-import-not-at-top
  config = load_config(config_name)
  with tf.variable_creator_scope(importer.uninitialized_variables):
    items = model_folder.build_items(config, pooler=True, masked_lm=True)
  shapes = {k: r.deref().shape.as_list()
            for r, k in variable_keys(**items).items()}
  rng = np.random.default_rng(0)
  parts, count = [], 0
  for tensor in name_map.tensors(config.num_hidden_layers):
    if tensor.key not in shapes:
      continue
    shape = name_map.canonical_shape(tensor.row, shapes[tensor.key])
    count += int(np.prod(shape))
    makers = {tensor.tf1[0]: lambda s=shape: tf.constant(
        rng.standard_normal(s, dtype=np.float32) * 0.02)}
    if adam_slots:
      makers[f"{tensor.tf1[0]}/adam_m"] = lambda s=shape: tf.zeros(s)
      makers[f"{tensor.tf1[0]}/adam_v"] = lambda s=shape: tf.fill(s, 1e-8)
    for name, make in makers.items():  # One tensor in memory at a time.
      part = f"{prefix}_part{len(parts)}"
      tf.raw_ops.SaveV2(prefix=part, tensor_names=[name],
                        shape_and_slices=[""], tensors=[make()])
      parts.append(part)
  tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts,
                                destination_prefix=prefix)
  for part in parts:
    for path in tf.io.gfile.glob(part + ".*"):
      tf.io.gfile.remove(path)
  return count


def _run_measured(command: list[str]) -> tuple[float, float, int]:
  """Runs `command`; returns (seconds, peak RSS in GiB, exit status)."""
  start = time.monotonic()
  process = subprocess.Popen(command, cwd=ROOT)
  _, status, usage = os.wait4(process.pid, 0)
  process.returncode = os.waitstatus_to_exitcode(status)
  return time.monotonic() - start, usage.ru_maxrss / 2**20, process.returncode


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--config", default="rembert")
  parser.add_argument("--adam_slots", action="store_true")
  parser.add_argument("--keep", action="store_true", help="keep the files")
  parser.add_argument("--json_out", help="also write the figures here")
  parser.add_argument("--write_only", action="store_true",
                      help=argparse.SUPPRESS)  # The writer child process.
  args = parser.parse_args()
  prefix = os.path.join(args.workdir, "original", "model.ckpt")
  output = os.path.join(args.workdir, "converted")
  if args.write_only:
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    params = write_original_layout(args.config, prefix, args.adam_slots)
    with open(prefix + ".params", "w", encoding="utf-8") as f:
      f.write(str(params))
    return 0
  start = time.monotonic()
  subprocess.run([sys.executable, os.path.abspath(__file__), "--write_only",
                  *sys.argv[1:]], check=True)
  with open(prefix + ".params", encoding="utf-8") as f:
    params = int(f.read())
  print(f"wrote {params:,} parameters (adam slots: {args.adam_slots}) in "
        f"{time.monotonic() - start:.0f} s", flush=True)
  seconds, peak_gib, status = _run_measured(
      [sys.executable, "-m", "rembert_tf.convert", "tf1", "--input", prefix,
       "--config", args.config, "--output", output, "--overwrite"])
  model_gib = 4 * params / 2**30
  print(f"convert: exit {status}, {seconds:.1f} s, peak RSS {peak_gib:.2f} GiB "
        f"= {peak_gib / model_gib:.2f}x the float32 model ({model_gib:.2f} GiB); "
        f"target < 1.5x")
  if args.json_out:
    os.makedirs(os.path.dirname(os.path.abspath(args.json_out)), exist_ok=True)
    with open(args.json_out, "w", encoding="utf-8") as f:
      json.dump({"config": args.config, "params": params,
                 "adam_slots": args.adam_slots, "seconds": seconds,
                 "peak_rss_gib": peak_gib, "model_gib": model_gib,
                 "peak_over_model": peak_gib / model_gib, "exit": status}, f,
                indent=2)
  if not args.keep:
    shutil.rmtree(args.workdir, ignore_errors=True)
  return status


if __name__ == "__main__":
  sys.exit(main())
