r"""Pre-training step and encoder inference: this project vs its peers vs the ceiling.

The model suite of `bench/run_benchmarks.py` (the one command; it prints the
table). This file holds the jobs, each run in a fresh process:

  python bench/bench_pretraining.py --worker IMPL CONFIG MODE
  python bench/bench_pretraining.py --ceiling tf|torch

Implementations, each on the same config, batch and masked positions:
  ours        the trainer's own replica step (forward, MLM loss, backward, clip,
              AdamW; `rembert_tf.training.train_step`) under tf.function, and
              with --jit_compile (XLA); encoder inference likewise;
  tfm         tf-models-official BertPretrainerV2(BertEncoderV2(embedding_width=
              Ein)) with an untied MaskedLM head (its closest to RemBERT's),
              tfm's own BERT optimizer (`official.nlp.optimization.
              create_optimizer`: AdamWeightDecay, fused Adam kernels),
              global-norm clip;
  hf_masked   transformers' PyTorch RemBertForMaskedLM with its head applied to
              the masked positions only (the FLOP-matched form);
  hf_stock    the same model as shipped: vocabulary logits at every position.
TensorFlow rows run with oneDNN on and off (`TF_ENABLE_ONEDNN_OPTS`, off by
default in TensorFlow on CPUs without AVX-512, on by default in rembert_tf).
Each (implementation, config, mode) runs in a fresh process, in interleaved
order, `--repeats` times, because the machine is shared and noisy; the table
shows medians with min..max over every timed step, achieved GFLOP/s against the
fp32 matmul ceiling measured in the same run, peak RSS, and how many cores
other processes used meanwhile. FLOPs count the matmuls only: 6 x weights x
tokens for training (the vocabulary projection on the positions it is computed
at), 2 x encoder weights x tokens for inference; attention scores excluded.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

CONFIGS = {
    "small": dict(vocab_size=32000, input_embedding_size=128, hidden_size=256,
                  num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=1024, output_embedding_size=512,
                  seq_length=128, batch_size=16, masked=20),
    "base": dict(vocab_size=120000, input_embedding_size=128, hidden_size=768,
                 num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, output_embedding_size=768,
                 seq_length=128, batch_size=8, masked=20),
    # The base model as flags/base_pretraining.flags trains it, one GPU's share.
    "base_512": dict(vocab_size=120000, input_embedding_size=128,
                     hidden_size=768, num_hidden_layers=12,
                     num_attention_heads=12, intermediate_size=3072,
                     output_embedding_size=768, seq_length=512, batch_size=32,
                     masked=80),
}
# (implementation, mode, oneDNN) jobs per config. Ours with oneDNN off too,
# to show TensorFlow's choice; the peers in their fastest settings. A mode
# ending in _bf16 is bfloat16 (ours: mixed_bfloat16; HF: torch.autocast), one
# with _compile is HF under torch.compile.
JOBS = [("ours", "train", True), ("ours", "train", False),
        ("ours", "train_xla", True), ("ours", "infer", True),
        ("ours", "infer", False), ("ours", "infer_xla", True),
        ("ours", "train_bf16", True), ("ours", "infer_bf16", True),
        ("tfm", "train", True), ("tfm", "train_xla", True),
        ("tfm", "infer", True), ("tfm", "infer_xla", True),
        ("hf_masked", "train", None), ("hf_stock", "train", None),
        ("hf_stock", "infer", None), ("hf_masked", "train_compile", None),
        ("hf_stock", "infer_compile", None), ("hf_masked", "train_bf16", None),
        ("hf_stock", "infer_bf16", None),
        ("hf_masked", "train_compile_bf16", None),
        ("hf_stock", "infer_compile_bf16", None)]
FLOP_MATCHED_PEERS = ("tfm", "hf_masked")
# The GPU suite: both in bfloat16 (float32 weights), masked positions only.
GPU_JOBS = [("ours", "train_xla_bf16", None), ("hf_masked", "train_bf16", None)]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def matmul_flops(c: dict, head_positions: int, train: bool) -> float:
  """Matmul FLOPs per step (attention scores excluded, as in the peer notes)."""
  h, f = c["hidden_size"], c["intermediate_size"]
  encoder = c["seq_length"] * (c["input_embedding_size"] * h
                               + c["num_hidden_layers"] * (4 * h * h + 2 * h * f))
  head = head_positions * (h * c["output_embedding_size"]
                           + c["output_embedding_size"] * c["vocab_size"])
  per_sequence = encoder + (head if train else 0)
  return (6 if train else 2) * c["batch_size"] * per_sequence


def make_batch(c: dict, seed: int = 0) -> dict[str, Any]:
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  b, s, p = c["batch_size"], c["seq_length"], c["masked"]
  ids = rng.integers(5, c["vocab_size"], (b, s)).astype(np.int32)
  positions = np.sort(np.stack([rng.choice(np.arange(1, s), p, replace=False)
                                for _ in range(b)]), 1).astype(np.int32)
  return {"input_word_ids": ids, "input_mask": np.ones_like(ids),
          "input_type_ids": np.zeros_like(ids),
          "masked_lm_positions": positions,
          "masked_lm_ids": np.take_along_axis(ids, positions, 1),
          "masked_lm_weights": np.ones((b, p), np.float32)}


def model_config(c: dict) -> dict:
  keys = ("vocab_size", "input_embedding_size", "hidden_size",
          "num_hidden_layers", "num_attention_heads", "intermediate_size",
          "output_embedding_size")
  return {k: c[k] for k in keys}


def ours_step(mode: str, c: dict, **params) -> tuple[Callable[[], Any],
                                                   Callable[[], int]]:
  """Our trainer's step (or encoder) and its trace count; `params` are
  PretrainingParams fields (dtype, accumulation, recomputation)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from rembert_tf.modeling.config import RemBertConfig  # pylint: disable=g-import-not-at-top
  from rembert_tf.modeling.encoder import RemBertEncoder  # pylint: disable=g-import-not-at-top
  from rembert_tf.pretraining import run as pretraining  # pylint: disable=g-import-not-at-top
  batch = {k: tf.constant(v) for k, v in make_batch(c).items()}
  config = RemBertConfig(**model_config(c))
  if mode.startswith("infer"):  # The encoder alone, as a server loads it.
    if mode.endswith("_bf16"):
      import tf_keras  # pylint: disable=g-import-not-at-top
      tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    encoder = RemBertEncoder(config)
    encoder(encoder.dummy_inputs())  # Variables first: one trace, not two.
    step = tf.function(lambda: encoder(batch)["sequence_output"],
                       jit_compile=mode.endswith("_xla"))
    return step, step.experimental_get_tracing_count
  params = pretraining.PretrainingParams(
      config_file="", input_dir="", model_dir=tempfile.mkdtemp(),
      train_batch_size=c["batch_size"], max_seq_length=c["seq_length"],
      max_predictions_per_seq=c["masked"], jit_compile="_xla" in mode,
      dtype="bfloat16" if mode.endswith("_bf16") else "float32", **params)
  trainer = pretraining.build_trainer(params, config)

  @tf.function
  def step():
    trainer.strategy.run(trainer.step.replica_train_step, args=(batch,))
    # A weight read after its update: waiting for it waits for a GPU's step.
    return trainer.model.trainable_variables[0][:1]
  return step, (trainer.step.compiled_forward_backward
                .experimental_get_tracing_count)


def _tfm(mode: str, c: dict) -> tuple[Callable[[], Any], Callable[[], int]]:
  """tf-models-official's closest model, trained as its docs suggest."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  from official.nlp import optimization  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import layers, models, networks  # pylint: disable=g-import-not-at-top
  batch = {k: tf.constant(v) for k, v in make_batch(c).items()}
  jit = mode.endswith("_xla")
  init = tf_keras.initializers.TruncatedNormal(stddev=0.02)
  encoder = networks.BertEncoderV2(
      vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
      num_layers=c["num_hidden_layers"],
      num_attention_heads=c["num_attention_heads"],
      inner_dim=c["intermediate_size"], inner_activation="gelu",
      type_vocab_size=2, output_dropout=0.0, attention_dropout=0.0,
      embedding_width=c["input_embedding_size"])
  if mode.startswith("infer"):
    step = tf.function(lambda: encoder(batch)["sequence_output"],
                       jit_compile=jit)
    return step, step.experimental_get_tracing_count
  table = tf.Variable(init([c["vocab_size"], c["output_embedding_size"]]))
  head = layers.MaskedLM(embedding_table=table, activation="gelu",
                         initializer=init)
  model = models.BertPretrainerV2(encoder, customized_masked_lm=head)
  optimizer = optimization.create_optimizer(1e-4, num_train_steps=10_000,
                                            num_warmup_steps=100)

  @tf.function(jit_compile=jit)
  def train():
    with tf.GradientTape() as tape:
      logits = model(batch)["mlm_logits"]
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          batch["masked_lm_ids"], tf.cast(logits, tf.float32)))
    variables = model.trainable_variables
    grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), 1.0)
    optimizer.apply_gradients(zip(grads, variables))
  return train, train.experimental_get_tracing_count


def torch_step(impl: str, mode: str, c: dict, device: str = "cpu",
               bfloat16: bool = False, gradient_checkpointing: bool = False
               ) -> tuple[Callable[[], Any], Callable[[], int]]:
  """Hugging Face's RemBERT step; `bfloat16` autocasts as HF's Trainer does
  (float32 weights and AdamW, bfloat16 matmuls), like our mixed_bfloat16;
  a mode with `_compile` runs the forward pass under `torch.compile`."""
  import contextlib  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  config = transformers.RemBertConfig(
      **model_config(c), hidden_act="gelu", hidden_dropout_prob=0.0,
      attention_probs_dropout_prob=0.0, max_position_embeddings=512)
  model = transformers.RemBertForMaskedLM(config).to(device)
  if gradient_checkpointing:
    model.gradient_checkpointing_enable()
  batch = {k: torch.from_numpy(v).to(device)
           for k, v in make_batch(c).items()}
  compiled = torch.compile if "_compile" in mode else (lambda f: f)

  def autocast():
    return (torch.autocast(device, dtype=torch.bfloat16) if bfloat16
            else contextlib.nullcontext())
  ids = batch["input_word_ids"].long()
  mask, types = batch["input_mask"].long(), batch["input_type_ids"].long()
  no_trace = lambda: 0
  if mode.startswith("infer"):
    model.eval()
    encoder = compiled(model.rembert)

    def infer():
      with torch.inference_mode(), autocast():
        encoder(input_ids=ids, attention_mask=mask, token_type_ids=types)
    return infer, no_trace
  positions = batch["masked_lm_positions"].long()
  targets = batch["masked_lm_ids"].long()
  labels = torch.full_like(ids, -100).scatter_(1, positions, targets)
  optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6,
                                weight_decay=0.01)
  rows = torch.arange(ids.shape[0])[:, None]

  @compiled
  def loss_fn():
    with autocast():
      if impl == "hf_stock":
        return model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                     labels=labels).loss
      sequence = model.rembert(input_ids=ids, attention_mask=mask,
                               token_type_ids=types)[0]
      logits = model.cls(sequence[rows, positions])
      return torch.nn.functional.cross_entropy(
          logits.reshape(-1, c["vocab_size"]).float(), targets.reshape(-1))

  def train():
    optimizer.zero_grad(set_to_none=True)
    loss_fn().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if device == "cuda":
      torch.cuda.synchronize()
  return train, no_trace


def ceiling(framework: str, dtype: str = "float32", n: int = 2048,
            repeats: int = 10) -> float:
  """Median GFLOP/s of an n^3 matmul in `dtype` (float32 or bfloat16)."""
  times = []
  if framework == "tf":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    a = tf.cast(tf.random.normal([n, n]), dtype)
    matmul = tf.function(lambda: tf.matmul(a, a))
    run = lambda: matmul().numpy()
  else:
    import torch  # pylint: disable=g-import-not-at-top
    a = torch.randn(n, n).to(getattr(torch, dtype))
    run = lambda: torch.mm(a, a)
  for _ in range(3):
    run()
  for _ in range(repeats):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return 2 * n ** 3 / statistics.median(times) / 1e9


def onednn_kernels(framework: str, dtype: str) -> list[str]:
  """The oneDNN matmul implementations a 1024^2 matmul in `dtype` runs (for
  example `brg_matmul:avx512_core_amx`), from ONEDNN_VERBOSE=1 in a fresh
  process; empty where no oneDNN primitive ran (float32 goes through
  its GEMM API or MKL, which the verbose mode does not list)."""
  code = ("import tensorflow as tf; a = tf.cast(tf.random.normal([1024, 1024])"
          f", '{dtype}'); tf.matmul(a, a).numpy()" if framework == "tf" else
          f"import torch; a = torch.randn(1024, 1024).to(torch.{dtype}); "
          "torch.mm(a, a)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=False,
                       env={**job_env(True), "ONEDNN_VERBOSE": "1"})
  kernels = set()
  for line in out.stdout.splitlines():
    fields = line.split(",")
    if len(fields) > 5 and fields[0] == "onednn_verbose" and "exec" in fields:
      at = fields.index("exec")
      if fields[at + 2] in ("matmul", "inner_product"):
        kernels.add(f"{fields[at + 2]}:{fields[at + 3]}")
  return sorted(kernels)


def cpu_description() -> dict[str, Any]:
  """The CPU as the table names it: model, vector and matrix extensions."""
  info: dict[str, str] = {}
  with open("/proc/cpuinfo", encoding="utf-8") as f:
    for line in f:
      key, _, value = line.partition(":")
      info.setdefault(key.strip(), value.strip())
  flags = set(info.get("flags", "").split())
  return {"model": info.get("model name", "unknown"),
          "family_model": f"{info.get('cpu family', '?')}/"
                          f"{info.get('model', '?')}",
          "cores": os.cpu_count(), "avx512": "avx512f" in flags,
          "avx512_bf16": "avx512_bf16" in flags, "amx": "amx_bf16" in flags}


def tf_onednn_default() -> bool:
  """Whether TensorFlow turns oneDNN on by itself on this CPU."""
  env = job_env()
  env.pop("TF_ENABLE_ONEDNN_OPTS", None)
  out = subprocess.run(
      [sys.executable, "-c", "from tensorflow.python.util import "
       "_pywrap_util_port as p; print(p.IsMklEnabled())"],
      env=env, capture_output=True, text=True, check=True)
  return out.stdout.strip().splitlines()[-1] == "True"


class CpuMonitor:
  """Cores used by other processes between two reads of /proc/stat."""

  def __init__(self):
    self._last = self._read()

  @staticmethod
  def _read() -> tuple[float, float, float]:
    with open("/proc/stat", encoding="ascii") as f:
      fields = [float(x) for x in f.readline().split()[1:]]
    with open("/proc/self/stat", encoding="ascii") as f:
      own = [float(x) for x in f.read().rsplit(")", 1)[1].split()[11:13]]
    busy = sum(fields) - fields[3] - fields[4]  # Minus idle and iowait.
    return time.monotonic(), busy, sum(own)

  def others(self) -> float:
    """Cores busy with other processes since the last call."""
    now = self._read()
    hz = os.sysconf("SC_CLK_TCK")
    seconds = max(now[0] - self._last[0], 1e-9)
    busy = (now[1] - self._last[1]) / hz / seconds
    own = (now[2] - self._last[2]) / hz / seconds
    self._last = now
    return max(busy - own, 0.0)


def worker(impl: str, config: str, mode: str, steps: int, warmup: int) -> dict:
  """Times one implementation in this process; returns one JSON-able row."""
  c = CONFIGS[config]
  if impl == "ours":
    step, traces = ours_step(mode, c)
  elif impl == "tfm":
    step, traces = _tfm(mode, c)
  else:
    import torch  # pylint: disable=g-import-not-at-top
    step, traces = torch_step(
        impl, mode, c, device="cuda" if torch.cuda.is_available() else "cpu",
        bfloat16=mode.endswith("_bf16"))
  start = time.perf_counter()
  for _ in range(warmup):
    step()
  first_seconds = time.perf_counter() - start
  times, others = [], []
  monitor = CpuMonitor()
  # Inference steps are ~4x cheaper: time 3x as many for a steadier median.
  for _ in range(steps if mode.startswith("train") else 3 * steps):
    start = time.perf_counter()
    result = step()
    if hasattr(result, "numpy"):
      result.numpy()
    times.append(time.perf_counter() - start)
    others.append(monitor.others())
  train = mode.startswith("train")
  positions = c["seq_length"] if impl == "hf_stock" and train else c["masked"]
  return {"impl": impl, "config": config, "mode": mode,
          "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
          "step_seconds": times, "others_cores": others,
          "warmup_seconds": first_seconds, "traces": traces(),
          "gflop_per_step": matmul_flops(c, positions, train) / 1e9,
          "peak_rss_mib": resource.getrusage(
              resource.RUSAGE_SELF).ru_maxrss / 1024}


def job_env(onednn=None) -> dict[str, str]:
  """A benchmark job's environment: quiet TF, tf_keras; oneDNN on/off/default."""
  env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3",
         "TF_USE_LEGACY_KERAS": "1"}
  if onednn is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
  return env


def _spawn(args: list[str], onednn, steps: int, warmup: int) -> dict:
  out = subprocess.run(
      [sys.executable, os.path.abspath(__file__), *args, f"--steps={steps}",
       f"--warmup={warmup}"], env=job_env(onednn), capture_output=True, text=True,
      check=False)
  if out.returncode:
    raise SystemExit(f"benchmark job {args} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def gpu_visible() -> bool:
  """Whether TensorFlow sees a GPU (asked in a fresh process, which then
  releases it)."""
  out = subprocess.run(
      [sys.executable, "-c", "import tensorflow as tf; "
       "print(len(tf.config.list_physical_devices('GPU')))"],
      env=job_env(), capture_output=True, text=True, check=True)
  return int(out.stdout.strip().splitlines()[-1]) > 0


def precision(mode: str) -> str:
  """A job's arithmetic, from its mode: "bfloat16" or "float32"."""
  return "bfloat16" if mode.endswith("_bf16") else "float32"


def run_suite(configs: list[str], repeats: int, steps: int, warmup: int,
              jobs=tuple(JOBS), ceilings: bool = True) -> dict[str, Any]:
  """Runs every job `repeats` times, interleaved; returns the CPU, the
  ceilings (float32 and bfloat16 matmuls, if `ceilings`), the oneDNN kernels
  they ran, and rows. A torch.compile job that fails (no C++ compiler, an
  unsupported op) is recorded in `not_run` with its error, not fatal."""
  measured, rows, not_run = [], [], {}
  kinds = [(f, o, d) for d in ("float32", "bfloat16")
           for f, o in (("torch", None), ("tf", True), ("tf", False))
           if ceilings and not (d == "bfloat16" and o is False)]
  for repeat in range(repeats):
    for framework, onednn, dtype in kinds:
      print(f"[{repeat + 1}/{repeats}] ceiling {framework} {dtype} "
            f"oneDNN={onednn}", file=sys.stderr, flush=True)
      measured.append({**_spawn(["--ceiling", framework, "--dtype", dtype],
                                onednn, steps, warmup),
                       "onednn": onednn, "dtype": dtype})
    for config in configs:
      for impl, mode, onednn in jobs:
        if (config, impl, mode) in not_run:
          continue
        print(f"[{repeat + 1}/{repeats}] {config} {impl} {mode} "
              f"oneDNN={onednn}", file=sys.stderr, flush=True)
        try:
          rows.append(_spawn(["--worker", impl, config, mode], onednn, steps,
                             warmup))
        except SystemExit as e:
          if "_compile" not in mode:
            raise
          not_run[config, impl, mode] = str(e).splitlines()[-1]
  results = {"ceilings": measured, "rows": merge_repeats(rows),
             "not_run": [{"config": c, "impl": i, "mode": m, "error": error}
                         for (c, i, m), error in not_run.items()]}
  if ceilings:
    results["cpu"] = cpu_description()
    results["tf_onednn_default"] = tf_onednn_default()
    results["onednn_kernels"] = {
        f"{framework} {dtype}": onednn_kernels(framework, dtype)
        for framework in ("tf", "torch") for dtype in ("float32", "bfloat16")}
  return results


def merge_repeats(rows: list[dict]) -> list[dict]:
  """One row per (config, impl, mode, oneDNN), every repeat's steps pooled."""
  merged: dict[tuple, dict] = {}
  for r in rows:
    key = (r["config"], r["impl"], r["mode"], r["onednn"])
    if key not in merged:
      merged[key] = {**r, "step_seconds": [], "others_cores": [],
                     "warmup_seconds": []}
    m = merged[key]
    m["step_seconds"] += r["step_seconds"]
    m["others_cores"] += r["others_cores"]
    m["warmup_seconds"].append(r["warmup_seconds"])
    m["peak_rss_mib"] = max(m["peak_rss_mib"], r["peak_rss_mib"])
    m["traces"] = max(m["traces"], r["traces"])
  for m in merged.values():
    batch = CONFIGS[m["config"]]["batch_size"]
    rates = [batch / t for t in m["step_seconds"]]
    m["seq_per_s"] = statistics.median(rates)
    m["seq_per_s_min"], m["seq_per_s_max"] = min(rates), max(rates)
    m["gflops"] = m["gflop_per_step"] * m["seq_per_s"] / batch
  return list(merged.values())


def ceiling_gflops(ceilings: list[dict], dtype: str = "float32") -> float:
  """The best framework's median in `dtype`: the most this machine's matmul
  gives."""
  by_kind: dict[tuple, list[float]] = {}
  for c in ceilings:
    if c.get("dtype", "float32") == dtype:
      by_kind.setdefault((c["framework"], c["onednn"]), []).append(c["gflops"])
  return max(statistics.median(v) for v in by_kind.values())


def summarize(results: dict[str, Any]) -> dict[str, Any]:
  """Ratios to the peers and the issue's targets, from `run_suite` results:
  per config, for each of train and infer in each precision, our best row
  against the fastest FLOP-matched peer in the same precision."""
  best: dict[tuple, dict] = {}
  for r in results["rows"]:
    key = (r["config"], r["impl"], r["mode"].split("_")[0],
           precision(r["mode"]))
    if key not in best or r["seq_per_s"] > best[key]["seq_per_s"]:
      best[key] = r
  dtypes = sorted({c.get("dtype", "float32") for c in results["ceilings"]})
  ceilings = {d: ceiling_gflops(results["ceilings"], d) for d in dtypes}
  summary = {"ceiling_gflops": ceilings.get("float32"),
             "ceilings_gflops": ceilings, "configs": {}}
  for config in {r["config"] for r in results["rows"]}:
    entry = {}
    for kind, peers in (("train", FLOP_MATCHED_PEERS),
                        ("infer", ("tfm", "hf_stock"))):
      for dtype in ("float32", "bfloat16"):
        ours = best.get((config, "ours", kind, dtype))
        rivals = [best[(config, p, kind, dtype)] for p in peers
                  if (config, p, kind, dtype) in best]
        if not ours or not rivals:
          continue
        fastest = max(rivals, key=lambda r: r["seq_per_s"])
        name = kind if dtype == "float32" else f"{kind}_bf16"
        entry[name] = {
            "ours_seq_per_s": ours["seq_per_s"], "ours_mode": ours["mode"],
            "ours_onednn": ours["onednn"], "dtype": dtype,
            "fastest_peer": fastest["impl"],
            "fastest_peer_mode": fastest["mode"],
            "peer_seq_per_s": fastest["seq_per_s"],
            "ratio": ours["seq_per_s"] / fastest["seq_per_s"],
            "share_of_ceiling": (ours["gflops"] / ceilings[dtype]
                                 if dtype in ceilings else None)}
    summary["configs"][config] = entry
  return summary


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--worker", nargs=3, metavar=("IMPL", "CONFIG", "MODE"))
  parser.add_argument("--ceiling", choices=("tf", "torch"))
  parser.add_argument("--dtype", choices=("float32", "bfloat16"),
                      default="float32", help="the ceiling's matmul")
  args = parser.parse_args()
  if args.worker:
    print(json.dumps(worker(*args.worker, args.steps, args.warmup)))
  elif args.ceiling:
    print(json.dumps({"framework": args.ceiling,
                      "gflops": ceiling(args.ceiling, args.dtype)}))
  else:
    parser.error("run bench/run_benchmarks.py; this file holds its jobs")


if __name__ == "__main__":
  main()
