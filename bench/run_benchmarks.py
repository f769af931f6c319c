r"""Every benchmark in one run and one table: model, data prep, conversion,
memory, GPU.

  ./dev.sh bench                      # installs the peers' packages, then:
  python bench/run_benchmarks.py [--suites=model,data_prep,convert,memory,gpu] \
      [--configs=small,base] [--repeats=2] [--steps=5]
  python bench/run_benchmarks.py --table_from=out/bench/results.json
  ./dev.sh bench --suites=gpu         # on a GPU machine: the GPU comparison

Suites (each in its own processes, so their memory peaks do not mix):
  model      pre-training step and encoder inference on the issue's 'small' and
             'base' configs: ours, tf-models-official and Hugging Face's
             PyTorch RemBERT, against the fp32 matmul ceiling measured in the
             same run (bench/bench_pretraining.py);
  data_prep  create_pretraining_data.py against tf-models-official's script on
             a 50 MB corpus (bench/bench_data_prep.py);
  convert    the full 995M-parameter TF1 checkpoint to ours, time and peak
             memory against the model's size (bench/bench_convert.py);
  memory     peak memory of a pre-training step of the released model's real
             layers (2 of them) with and without --recompute_layers and
             --gradient_accumulation_steps, against the memory plan and Hugging
             Face's RemBERT with gradient checkpointing; then the plan's table
             for fine-tuning the released model on 24/40/80 GB GPUs
             (bench/bench_memory.py);
  gpu        the base config's pre-training step at sequence 512, ours in
             bfloat16 with XLA against Hugging Face's PyTorch RemBERT under
             bfloat16 autocast, both scoring masked positions only; says so
             and skips where TensorFlow sees no GPU.
Prints one table and the targets, and writes everything to --json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import bench_memory
import bench_pretraining

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
HEADER = ["suite", "config", "implementation", "mode", "oneDNN", "unit",
          "median", "min..max", "GFLOP/s", "ceiling", "peak MiB", "ours/this",
          "others"]


def _onednn(value) -> str:
  return {"1": "on", "0": "off"}.get(value, "-")


def model_rows(results: dict[str, Any]) -> list[list[str]]:
  """Table rows of the model suite, with our best over each peer row in the
  same precision; the ceiling column is that precision's."""
  ceilings = {d: bench_pretraining.ceiling_gflops(results["ceilings"], d)
              for d in {c.get("dtype", "float32") for c in results["ceilings"]}}
  kind = lambda r: (r["config"], r["mode"].split("_")[0],
                    bench_pretraining.precision(r["mode"]))
  ours_best: dict[tuple, float] = {}
  for r in results["rows"]:
    if r["impl"] == "ours":
      ours_best[kind(r)] = max(ours_best.get(kind(r), 0.0), r["seq_per_s"])
  rows = []
  for r in sorted(results["rows"], key=lambda r: (
      list(bench_pretraining.CONFIGS).index(r["config"]),
      r["mode"].split("_")[0] != "train", bench_pretraining.precision(
          r["mode"]), r["impl"] != "ours", r["impl"], r["mode"],
      str(r["onednn"]))):
    ratio = ours_best.get(kind(r), 0.0) / r["seq_per_s"]
    ceiling = ceilings.get(bench_pretraining.precision(r["mode"]))
    rows.append([
        "model", r["config"], r["impl"], r["mode"], _onednn(r["onednn"]),
        "seq/s", f"{r['seq_per_s']:.2f}",
        f"{r['seq_per_s_min']:.2f}..{r['seq_per_s_max']:.2f}",
        f"{r['gflops']:.1f}",
        f"{100 * r['gflops'] / ceiling:.0f}%" if ceiling else "",
        f"{r['peak_rss_mib']:.0f}", "" if r["impl"] == "ours" else
        f"{ratio:.2f}x", f"{statistics.median(r['others_cores']):.2f}"])
  return rows


def data_prep_rows(result: dict[str, Any]) -> list[list[str]]:
  case = f"{result['corpus_mb']:.0f}MB"
  rows = []
  for impl in ("ours", "tfm"):
    r = result[impl]
    ratio = result["ours"]["tokens_per_s"] / r["tokens_per_s"]
    rows.append(["data_prep", case, impl, "create_pretraining_data", "-",
                 "tokens/s", f"{r['tokens_per_s']:.0f}", "", "", "",
                 f"{r['peak_rss_mb'] * 1e6 / 2**20:.0f}",
                 "" if impl == "ours" else f"{ratio:.2f}x", ""])
  return rows


def convert_rows(result: dict[str, Any]) -> list[list[str]]:
  return [["convert", f"{result['config']} {result['params'] / 1e6:.0f}M",
           "ours", "tf1 -> rembert_tf", "-", "seconds",
           f"{result['seconds']:.1f}", "", "", "",
           f"{result['peak_rss_gib'] * 1024:.0f}",
           f"peak {result['peak_over_model']:.2f}x model", ""]]


def memory_rows(result: dict[str, Any]) -> list[list[str]]:
  """Peak RSS over the import baseline; ours against the plan."""
  c = result["config"]
  case = (f"{c['num_hidden_layers']}L b{c['batch_size']} s{c['seq_length']}")
  rows = []
  for r in result["rows"]:
    ours = "plan_peak_mib" in r
    rows.append([
        "memory", case, r["impl"], bench_memory.mode_name(r), "-", "MiB",
        f"{r['step_mib']:.0f}",
        f"TF {r['allocator_peak_mib']:.0f}" if ours else "", "", "",
        f"{r['peak_rss_mib']:.0f}",
        f"plan {r['plan_needed_mib'] / r['step_mib']:.2f}x" if ours else "",
        f"{r['plan_peak_mib'] / r['allocator_peak_mib']:.2f}x TF" if ours
        else ""])
  return rows


def gpu_rows(result: dict[str, Any]) -> list[list[str]]:
  """Sequences per second on the GPU; ours over each peer."""
  ours = max(r["seq_per_s"] for r in result["rows"] if r["impl"] == "ours")
  return [["gpu", r["config"], r["impl"], r["mode"], "-", "seq/s",
           f"{r['seq_per_s']:.1f}",
           f"{r['seq_per_s_min']:.1f}..{r['seq_per_s_max']:.1f}",
           f"{r['gflops']:.0f}", "", f"{r['peak_rss_mib']:.0f}",
           "" if r["impl"] == "ours" else f"{ours / r['seq_per_s']:.2f}x", ""]
          for r in result["rows"]]


def machine_lines(model: dict[str, Any]) -> list[str]:
  """The CPU, TensorFlow's own oneDNN choice on it, the oneDNN matmul
  kernels each framework ran, and each precision's 2048^3 matmul."""
  lines = []
  if "cpu" in model:
    c = model["cpu"]
    yes = lambda flag: "yes" if c[flag] else "no"
    lines.append(
        f"CPU: {c['model']} (family/model {c['family_model']}), {c['cores']} "
        f"cores, AVX-512 {yes('avx512')}, AVX512-BF16 {yes('avx512_bf16')}, "
        f"AMX {yes('amx')}; TensorFlow's default here: oneDNN "
        f"{'on' if model['tf_onednn_default'] else 'off'}")
    lines.append("oneDNN matmul kernels (ONEDNN_VERBOSE): " + "; ".join(
        f"{name}: {', '.join(kernels) or 'none (no oneDNN primitive)'}"
        for name, kernels in model["onednn_kernels"].items()))
  for dtype in ("float32", "bfloat16"):
    medians = []
    for name, key in (("torch", ("torch", None)), ("TF oneDNN", ("tf", True)),
                      ("TF Eigen", ("tf", False))):
      runs = [c["gflops"] for c in model["ceilings"]
              if (c["framework"], c["onednn"]) == key
              and c.get("dtype", "float32") == dtype]
      if runs:
        medians.append(f"{name} {statistics.median(runs):.1f}")
    if medians:
      ceiling = bench_pretraining.ceiling_gflops(model["ceilings"], dtype)
      lines.append(f"{dtype} matmul 2048^3, GFLOP/s (median of runs): "
                   f"{', '.join(medians)}; ceiling = {ceiling:.1f}")
  for skipped in model.get("not_run", []):
    lines.append(f"not run: {skipped['config']} {skipped['impl']} "
                 f"{skipped['mode']} ({skipped['error']})")
  return lines


def format_table(rows: list[list[str]]) -> str:
  table = [HEADER] + rows
  widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
  return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths))
                   for row in table)


_TARGETS = {"train": ("base pre-training step", "fastest FLOP-matched peer",
                       1.3),
            "infer": ("base encoder inference", "fastest peer", 1.0)}


def targets(results: dict[str, Any]) -> list[str]:
  """The issue's targets on 'base' in each precision, met or not: the ratio
  to the fastest peer, and (bfloat16) 35% of the bfloat16 ceiling."""
  lines = []
  base = results["summary"]["configs"].get("base", {})
  for kind, dtype in (("train", "float32"), ("train", "bfloat16"),
                      ("infer", "float32"), ("infer", "bfloat16")):
    name = kind if dtype == "float32" else f"{kind}_bf16"
    if name not in base:
      continue
    t, (what, peer, goal) = base[name], _TARGETS[kind]
    line = (f"{what}, {dtype}: ours {t['ours_seq_per_s']:.2f} seq/s "
            f"({t['ours_mode']}, oneDNN {_onednn(t['ours_onednn'])}) vs {peer} "
            f"{t['fastest_peer']} ({t['fastest_peer_mode']}) "
            f"{t['peer_seq_per_s']:.2f} = {t['ratio']:.2f}x (target "
            f"{goal:.2f}x: {'met' if t['ratio'] >= goal else 'NOT met'})")
    if t["share_of_ceiling"] is not None:
      line += f"; {100 * t['share_of_ceiling']:.0f}% of the {dtype} ceiling"
      if dtype == "bfloat16":
        line += (" (target 35%: "
                 f"{'met' if t['share_of_ceiling'] >= 0.35 else 'NOT met'})")
    lines.append(line)
  # The peers build their variables inside the first trace, so they trace
  # twice by design; ours must trace once (static shapes, one XLA compile).
  retraced = [f"{r['config']} {r['impl']} {r['mode']}" for r in results["rows"]
              if r["impl"] == "ours" and r["traces"] > 1]
  lines.append("every step of ours traced once per run" if not retraced
               else f"traced more than once: {', '.join(retraced)}")
  return lines


def write_json(path: str, values: dict[str, Any]) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(values, f, indent=1)
  os.replace(path + ".tmp", path)


def _run_script(script: str, args: list[str], json_out: str) -> dict:
  subprocess.run([sys.executable, os.path.join(BENCH, script), *args,
                  f"--json_out={json_out}"], check=True, cwd=ROOT,
                 env=bench_pretraining.job_env())
  with open(json_out, encoding="utf-8") as f:
    return json.load(f)


def report(results: dict[str, Any]) -> str:
  """The ceiling line, the table and the targets of a run's results."""
  rows = []
  if "model" in results:
    rows += model_rows(results["model"])
  if "data_prep" in results:
    rows += data_prep_rows(results["data_prep"])
  if "convert" in results:
    rows += convert_rows(results["convert"])
  if "memory" in results:
    rows += memory_rows(results["memory"])
  if "gpu" in results:
    rows += gpu_rows(results["gpu"])
  lines = []
  if "model" in results:
    lines += machine_lines(results["model"])
  if rows:
    lines.append(format_table(rows))
  if "model" in results:
    lines += [""] + targets(results["model"])
  if "memory" in results:
    lines += ["", "memory rows: median = peak RSS over the RSS after "
              "importing the framework (MiB); min..max: TensorFlow's "
              "allocator peak; ours/this: the plan's memory needed over the "
              "measured MiB; others: the plan's tensor peak over the "
              "allocator's", "",
              bench_memory.format_released(results["memory"]["released"])]
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--suites", default="model,data_prep,convert,memory,gpu")
  parser.add_argument("--configs", default="small,base")
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--data_prep_mb", type=float, default=50.0)
  parser.add_argument("--json", default=os.path.join(ROOT, "out", "bench",
                                                     "results.json"))
  parser.add_argument("--table_from", metavar="JSON",
                      help="print the report of an earlier run; run nothing")
  args = parser.parse_args()
  if args.table_from:
    with open(args.table_from, encoding="utf-8") as f:
      print(report(json.load(f)))
    return
  suites = args.suites.split(",")
  work = tempfile.mkdtemp(prefix="rembert_bench_")
  results: dict[str, Any] = {"cpu_count": os.cpu_count()}
  if "model" in suites:
    model = bench_pretraining.run_suite(args.configs.split(","), args.repeats,
                                        args.steps, args.warmup)
    model["summary"] = bench_pretraining.summarize(model)
    results["model"] = model
  if "data_prep" in suites:
    results["data_prep"] = _run_script(
        "bench_data_prep.py", [f"--target_mb={args.data_prep_mb}",
                               f"--work_dir={os.path.join(work, 'data')}"],
        os.path.join(work, "data_prep.json"))
  if "convert" in suites:
    results["convert"] = _run_script(
        "bench_convert.py", [f"--workdir={os.path.join(work, 'convert')}"],
        os.path.join(work, "convert.json"))
  if "memory" in suites:
    results["memory"] = bench_memory.run_suite()
  if "gpu" in suites:
    if bench_pretraining.gpu_visible():
      gpu = bench_pretraining.run_suite(["base_512"], args.repeats, args.steps,
                                        args.warmup, bench_pretraining.GPU_JOBS,
                                        ceilings=False)
      results["gpu"] = gpu
    else:
      print("gpu suite: TensorFlow sees no GPU on this machine; skipped "
            "(run ./dev.sh bench --suites=gpu on one)", file=sys.stderr)
  print("\n" + report(results))
  write_json(args.json, results)
  print(f"\nwrote {args.json}")


if __name__ == "__main__":
  main()
