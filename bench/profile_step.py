r"""Where one of our benchmark steps spends its time: TensorFlow's profiler
trace, summed by op type.

  python bench/profile_step.py --mode=infer [--config=base] [--steps=2]
  python bench/profile_step.py --mode=train_bf16 --top=15

Runs the model suite's own job (`bench_pretraining.ours_step`, same config,
batch and masked positions), warms it up, traces `--steps` steps with
`tf.profiler`, and prints each op type's milliseconds per step and share of
the op time (ops on TensorFlow's inter-op threads; the executor's own
bookkeeping excluded), with the matmul GFLOP/s it implies. The trace stays in
--logdir for TensorBoard's profile plugin.
"""

import argparse
import collections
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import bench_pretraining

# Executor events that wrap ops rather than being ops.
_NOT_OPS = ("Process", "Start")
MATMUL_OPS = ("MatMul", "_MklMatMul", "_MklNativeFusedMatMul", "_FusedMatMul",
              "_MklFusedMatMul", "BatchMatMulV2", "_MklBatchMatMulV2",
              "Einsum", "_MklEinsum")


def op_times(logdir: str) -> collections.Counter:
  """Milliseconds per op type over every traced step, from the xplane file."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-direct-tensorflow-import
  path, = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*",
                                        "*.xplane.pb")))[-1:]
  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  times: collections.Counter = collections.Counter()
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        op_type = name.rsplit(":", 1)[-1] if ":" in name else None
        if op_type and op_type not in _NOT_OPS:
          times[op_type] += event.duration_ps / 1e9
  return times


def profile(mode: str, config: str, steps: int, logdir: str) -> dict:
  """Traces `steps` steps of our `mode` job; returns times per step."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  c = bench_pretraining.CONFIGS[config]
  step, _ = bench_pretraining.ours_step(mode, c)
  for _ in range(2):
    result = step()
    result.numpy()
  tf.profiler.experimental.start(logdir)
  for _ in range(steps):
    result = step()
    result.numpy()
  tf.profiler.experimental.stop()
  per_step = {k: v / steps for k, v in op_times(logdir).items()}
  train = mode.startswith("train")
  gflop = bench_pretraining.matmul_flops(c, c["masked"], train) / 1e9
  return {"per_step_ms": per_step, "matmul_gflop": gflop}


def format_profile(result: dict, top: int) -> str:
  per_step = result["per_step_ms"]
  total = sum(per_step.values())
  matmul = sum(v for k, v in per_step.items() if k in MATMUL_OPS)
  lines = [f"op time {total:.1f} ms per step; matmuls {matmul:.1f} ms "
           f"({100 * matmul / total:.0f}%), "
           f"{result['matmul_gflop'] / (matmul / 1e3):.0f} GFLOP/s while "
           "they run"]
  for op_type, ms in sorted(per_step.items(), key=lambda kv: -kv[1])[:top]:
    lines.append(f"  {op_type:36s} {ms:9.1f} ms  {100 * ms / total:5.1f}%")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--mode", default="train",
                      help="a model-suite mode of ours: train, infer, "
                      "train_bf16, infer_bf16, train_xla, ...")
  parser.add_argument("--config", default="base",
                      choices=sorted(bench_pretraining.CONFIGS))
  parser.add_argument("--steps", type=int, default=2)
  parser.add_argument("--top", type=int, default=12)
  parser.add_argument("--logdir", default=None)
  args = parser.parse_args()
  logdir = args.logdir or tempfile.mkdtemp(prefix="rembert_profile_")
  result = profile(args.mode, args.config, args.steps, logdir)
  print(f"{args.config} {args.mode}, oneDNN "
        f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'TensorFlow default')}; "
        f"trace in {logdir}")
  print(format_profile(result, args.top))


if __name__ == "__main__":
  main()
