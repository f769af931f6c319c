"""The benchmark's arithmetic: FLOP counts, pooled repeats, targets, report."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "bench"))
# pylint: disable=g-import-not-at-top,wrong-import-position
import bench_pretraining
import run_benchmarks


def _row(impl, mode, seconds, onednn="1", traces=1, config="base"):
  c = bench_pretraining.CONFIGS[config]
  positions = (c["seq_length"] if impl == "hf_stock" and mode == "train"
               else c["masked"])
  return {"impl": impl, "config": config, "mode": mode, "onednn": onednn,
          "step_seconds": list(seconds), "others_cores": [0.0] * len(seconds),
          "warmup_seconds": 1.0, "traces": traces, "peak_rss_mib": 100.0,
          "gflop_per_step": bench_pretraining.matmul_flops(
              c, positions, mode.startswith("train")) / 1e9}


def _results(rows):
  results = {"ceilings": [
      {"framework": "torch", "onednn": None, "gflops": 60.0},
      {"framework": "tf", "onednn": True, "gflops": 70.0},
      {"framework": "tf", "onednn": True, "gflops": 80.0},
      {"framework": "tf", "onednn": False, "gflops": 65.0}],
             "rows": bench_pretraining.merge_repeats(rows)}
  results["summary"] = bench_pretraining.summarize(results)
  return results


def test_matmul_flops_counts_the_base_encoder_and_masked_head():
  c = bench_pretraining.CONFIGS["base"]
  # Projection 128x768 and 12 layers of 4 HxH + 2 HxFFN weights.
  encoder_weights = 128 * 768 + 12 * (4 * 768 ** 2 + 2 * 768 * 3072)
  head_weights = 768 * 768 + 768 * 120000
  assert bench_pretraining.matmul_flops(c, 20, train=False) == (
      2 * 8 * 128 * encoder_weights)
  assert bench_pretraining.matmul_flops(c, 20, train=True) == (
      6 * 8 * (128 * encoder_weights + 20 * head_weights))


def test_repeats_pool_their_steps_and_targets_use_flop_matched_peers():
  rows = [_row("ours", "train", [10.0, 12.0]),
          _row("ours", "train", [11.0]),  # A second repeat: pooled.
          _row("ours", "train_xla", [16.0]),
          _row("tfm", "train", [13.0]), _row("hf_masked", "train", [14.0]),
          _row("hf_stock", "train", [1.0], onednn=None),  # Not FLOP-matched.
          _row("ours", "infer", [2.0]), _row("tfm", "infer", [2.5]),
          _row("hf_stock", "infer", [1.6], onednn=None)]
  results = _results(rows)
  train = results["summary"]["configs"]["base"]["train"]
  assert train["ours_seq_per_s"] == pytest.approx(8 / 11.0)
  assert train["fastest_peer"] == "tfm"
  assert train["ratio"] == pytest.approx(13.0 / 11.0)
  ceiling = 75.0  # Median of TF oneDNN's two runs, the best framework.
  assert results["summary"]["ceiling_gflops"] == ceiling
  gflop = bench_pretraining.matmul_flops(
      bench_pretraining.CONFIGS["base"], 20, True) / 1e9
  assert train["share_of_ceiling"] == pytest.approx(gflop / 11.0 / ceiling)
  infer = results["summary"]["configs"]["base"]["infer"]
  assert infer["fastest_peer"] == "hf_stock"
  assert infer["ratio"] == pytest.approx(1.6 / 2.0)

  lines = run_benchmarks.targets(results)
  assert "= 1.18x (target 1.30x: NOT met)" in lines[0]
  assert "0.80x (target 1.00x: NOT met)" in lines[1]
  assert lines[2] == "every step of ours traced once per run"
  report = run_benchmarks.report({"model": results})
  assert "ceiling = 75.0" in report
  assert "1.18x" in report  # tfm's row: our best train over it.


def test_a_retraced_step_is_reported():
  results = _results([_row("ours", "train", [10.0], traces=2),
                      _row("tfm", "train", [13.0], traces=2)])
  assert run_benchmarks.targets(results)[-1] == (
      "traced more than once: base ours train")


def test_our_worker_traces_its_step_once():
  """One real job: our small train step, timed in this process."""
  row = bench_pretraining.worker("ours", "small", "train", steps=2, warmup=1)
  assert row["traces"] == 1
  assert len(row["step_seconds"]) == 2 and min(row["step_seconds"]) > 0
  assert row["gflop_per_step"] == pytest.approx(bench_pretraining.matmul_flops(
      bench_pretraining.CONFIGS["small"], 20, True) / 1e9)


def test_memory_rows_compare_ours_with_the_plan():
  import bench_memory  # pylint: disable=g-import-not-at-top
  result = {"config": bench_memory.CONFIG, "released": [], "rows": [
      {"impl": "ours", "accumulation": 4, "recompute": True,
       "plan_peak_mib": 900.0, "plan_needed_mib": 1000.0,
       "allocator_peak_mib": 950.0, "baseline_mib": 500.0,
       "peak_rss_mib": 1500.0, "step_mib": 1000.0},
      {"impl": "hf_masked", "accumulation": 1, "recompute": True,
       "baseline_mib": 400.0, "peak_rss_mib": 1400.0, "step_mib": 1000.0}]}
  ours, peer = run_benchmarks.memory_rows(result)
  assert ours[:4] == ["memory", "2L b8 s512", "ours",
                      "train, accumulate 4, recompute"]
  assert ours[6:8] == ["1000", "TF 950"]
  assert ours[11:] == ["plan 1.00x", "0.95x TF"]
  assert peer[3] == "train, checkpointing" and peer[11:] == ["", ""]


def test_released_model_table_takes_the_fewest_accumulation_steps():
  import bench_memory  # pylint: disable=g-import-not-at-top
  from rembert_tf.configs import load_config  # pylint: disable=g-import-not-at-top
  from rembert_tf.training import memory_plan  # pylint: disable=g-import-not-at-top
  table = bench_memory.released_model_table()
  assert len(table) == 3 * 2 * 2
  config = load_config("rembert").for_finetuning()
  for entry in table:
    for recompute in (False, True):
      choice = entry[f"recompute_{recompute}"]
      workload = lambda n: memory_plan.Workload(  # pylint: disable=cell-var-from-loop
          config=config, seq_length=512, micro_batch_size=entry["batch"] // n,
          accumulation_steps=n, recompute_layers=recompute,
          dtype=entry["dtype"])
      budget = entry["gpu_gib"] * memory_plan.GIB
      n = choice["accumulation"]
      assert memory_plan.plan(workload(n)).fits(budget)
      assert n == 1 or not memory_plan.plan(workload(n // 2)).fits(budget)
  assert "24 GB     64  bfloat16" in bench_memory.format_released(table)


def test_gpu_rows_put_ours_over_the_bfloat16_peer():
  rows = bench_pretraining.merge_repeats(
      [_row("ours", "train_xla_bf16", [0.1], config="base_512"),
       _row("hf_masked", "train_bf16", [0.2], onednn=None, config="base_512")])
  ours, peer = run_benchmarks.gpu_rows({"rows": rows})
  assert ours[2:4] == ["ours", "train_xla_bf16"] and ours[11] == ""
  assert peer[6] == f"{32 / 0.2:.1f}" and peer[11] == "2.00x"


def test_bfloat16_rows_meet_bfloat16_peers_and_their_own_ceiling():
  rows = [_row("ours", "train", [10.0]), _row("hf_masked", "train", [12.0]),
          _row("ours", "train_bf16", [4.0]),
          _row("hf_masked", "train_bf16", [6.0], onednn=None),
          _row("hf_masked", "train_compile_bf16", [5.0], onednn=None)]
  results = _results(rows)
  results["ceilings"] += [
      {"framework": "torch", "onednn": None, "dtype": "bfloat16",
       "gflops": 1000.0},
      {"framework": "tf", "onednn": True, "dtype": "bfloat16", "gflops": 500.0}]
  results["summary"] = bench_pretraining.summarize(results)
  base = results["summary"]["configs"]["base"]
  assert base["train"]["ratio"] == pytest.approx(12.0 / 10.0)
  bf16 = base["train_bf16"]
  # torch.compile's row is a FLOP-matched peer too: the fastest, 5 s.
  assert bf16["fastest_peer_mode"] == "train_compile_bf16"
  assert bf16["ratio"] == pytest.approx(5.0 / 4.0)
  gflop = bench_pretraining.matmul_flops(
      bench_pretraining.CONFIGS["base"], 20, True) / 1e9
  assert bf16["share_of_ceiling"] == pytest.approx(gflop / 4.0 / 1000.0)
  lines = run_benchmarks.targets(results)
  assert lines[1].startswith("base pre-training step, bfloat16: ours 2.00")
  assert "1.25x (target 1.30x: NOT met)" in lines[1]
  assert "(target 35%: NOT met)" in lines[1]
  table = run_benchmarks.report({"model": results})
  assert "bfloat16 matmul 2048^3, GFLOP/s (median of runs): torch 1000.0, " \
         "TF oneDNN 500.0; ceiling = 1000.0" in table


def test_machine_lines_name_the_cpu_and_the_kernels():
  model = {"ceilings": [{"framework": "tf", "onednn": True, "gflops": 7.0}],
           "cpu": {"model": "Some Xeon", "family_model": "6/207", "cores": 2,
                   "avx512": True, "avx512_bf16": True, "amx": False},
           "tf_onednn_default": True,
           "onednn_kernels": {"tf bfloat16": ["matmul:brg:avx512_core_bf16"],
                              "torch float32": []},
           "not_run": [{"config": "base", "impl": "hf_stock",
                        "mode": "infer_compile", "error": "no compiler"}]}
  lines = run_benchmarks.machine_lines(model)
  assert lines[0] == ("CPU: Some Xeon (family/model 6/207), 2 cores, AVX-512 "
                      "yes, AVX512-BF16 yes, AMX no; TensorFlow's default "
                      "here: oneDNN on")
  assert lines[1] == ("oneDNN matmul kernels (ONEDNN_VERBOSE): tf bfloat16: "
                      "matmul:brg:avx512_core_bf16; torch float32: none (no "
                      "oneDNN primitive)")
  assert lines[-1] == "not run: base hf_stock infer_compile (no compiler)"


def test_profile_table_sums_matmuls_and_ranks_op_types():
  import profile_step  # pylint: disable=g-import-not-at-top
  text = profile_step.format_profile(
      {"per_step_ms": {"_MklMatMul": 600.0, "_MklBatchMatMulV2": 100.0,
                       "Mul": 200.0, "AddV2": 100.0}, "matmul_gflop": 175.0},
      top=2)
  lines = text.splitlines()
  assert lines[0] == ("op time 1000.0 ms per step; matmuls 700.0 ms (70%), "
                      "250 GFLOP/s while they run")
  assert lines[1].split() == ["_MklMatMul", "600.0", "ms", "60.0%"]
  assert lines[2].split() == ["Mul", "200.0", "ms", "20.0%"]
  assert len(lines) == 3
