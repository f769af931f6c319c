r"""Pre-training step and encoder inference: this project vs its peers vs the ceiling.

  python bench/bench_pretraining.py [--configs=small,base] [--repeats=2]

Implementations, each on the same config, batch and masked positions:
  ours        the trainer's own replica step (forward, MLM loss, backward, clip,
              AdamW) under tf.function, and with --jit_compile (XLA);
  tfm         tf-models-official BertPretrainerV2(BertEncoderV2(embedding_width=
              Ein)) with an untied MaskedLM head (its closest to RemBERT's);
  hf_masked   transformers' PyTorch RemBertForMaskedLM, head applied to the masked
              positions only (the FLOP-matched form);
  hf_stock    the same model as shipped: vocabulary logits at every position.
Each (implementation, config, mode) runs in a fresh process, in interleaved
order, `--repeats` times, because the machine is shared and noisy; the table
shows medians with min..max, achieved GFLOP/s against the fp32 matmul ceiling
measured in the same run, and peak RSS. FLOPs count the matmuls only
(6 x parameters touched x tokens for training, 2x for inference).
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

CONFIGS = {
    "small": dict(vocab_size=32000, input_embedding_size=128, hidden_size=256,
                  num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=1024, output_embedding_size=512,
                  seq_length=128, batch_size=16, masked=20),
    "base": dict(vocab_size=120000, input_embedding_size=128, hidden_size=768,
                 num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, output_embedding_size=768,
                 seq_length=128, batch_size=8, masked=20),
}
MODES = {
    "ours": ["train", "train_xla", "infer", "infer_xla"],
    "tfm": ["train", "infer_xla"],
    "hf_masked": ["train"],
    "hf_stock": ["train", "infer"],
}
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


def _batch(c: dict, seed: int = 0):
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


def _model_config(c: dict) -> dict:
  keys = ("vocab_size", "input_embedding_size", "hidden_size",
          "num_hidden_layers", "num_attention_heads", "intermediate_size",
          "output_embedding_size")
  return {k: c[k] for k in keys}


def _tf_step(impl: str, mode: str, c: dict):
  """A zero-argument callable running one step of `impl` in TensorFlow."""
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  batch = {k: tf.constant(v) for k, v in _batch(c).items()}
  jit = mode.endswith("_xla")
  if impl == "ours":
    from rembert_tf.training import pretraining  # pylint: disable=g-import-not-at-top
    config_file = os.path.join(tempfile.mkdtemp(), "config.json")
    with open(config_file, "w") as f:
      json.dump(_model_config(c), f)
    params = pretraining.PretrainingParams(
        config_file=config_file, input_dir="", model_dir="",
        max_seq_length=c["seq_length"], max_predictions_per_seq=c["masked"],
        jit_compile=jit)
    strategy = tf.distribute.get_strategy()
    run = pretraining._Run(params, strategy)  # pylint: disable=protected-access
    if mode.startswith("train"):
      step = tf.function(lambda: run.replica_train_step(batch))
    else:
      step = tf.function(lambda: run.model.encoder(batch)["sequence_output"],
                         jit_compile=jit)
    return step
  from official.nlp.modeling import layers, models, networks  # pylint: disable=g-import-not-at-top
  init = tf_keras.initializers.TruncatedNormal(stddev=0.02)
  encoder = networks.BertEncoderV2(
      vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
      num_layers=c["num_hidden_layers"],
      num_attention_heads=c["num_attention_heads"],
      inner_dim=c["intermediate_size"], inner_activation="gelu",
      type_vocab_size=2, output_dropout=0.0, attention_dropout=0.0,
      embedding_width=c["input_embedding_size"])
  if mode.startswith("infer"):
    return tf.function(lambda: encoder(batch)["sequence_output"],
                       jit_compile=jit)
  table = tf.Variable(init([c["vocab_size"], c["output_embedding_size"]]))
  head = layers.MaskedLM(embedding_table=table, activation="gelu",
                         initializer=init)
  model = models.BertPretrainerV2(encoder, customized_masked_lm=head)
  optimizer = tf_keras.optimizers.AdamW(1e-4, weight_decay=0.01, epsilon=1e-6)

  @tf.function(jit_compile=jit)
  def train():
    with tf.GradientTape() as tape:
      logits = model(batch)["mlm_logits"]
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          batch["masked_lm_ids"], tf.cast(logits, tf.float32)))
    variables = model.trainable_variables
    grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), 1.0)
    optimizer.apply_gradients(zip(grads, variables))
  return train


def _torch_step(impl: str, mode: str, c: dict):
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  config = transformers.RemBertConfig(
      **_model_config(c), hidden_act="gelu", hidden_dropout_prob=0.0,
      attention_probs_dropout_prob=0.0, max_position_embeddings=512)
  model = transformers.RemBertForMaskedLM(config)
  batch = {k: torch.from_numpy(v) for k, v in _batch(c).items()}
  ids = batch["input_word_ids"].long()
  mask, types = batch["input_mask"].long(), batch["input_type_ids"].long()
  if mode == "infer":
    model.eval()
    def infer():
      with torch.inference_mode():
        model.rembert(input_ids=ids, attention_mask=mask, token_type_ids=types)
    return infer
  positions = batch["masked_lm_positions"].long()
  targets = batch["masked_lm_ids"].long()
  labels = torch.full_like(ids, -100).scatter_(1, positions, targets)
  optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6,
                                weight_decay=0.01)
  rows = torch.arange(ids.shape[0])[:, None]

  def train():
    optimizer.zero_grad(set_to_none=True)
    if impl == "hf_stock":
      loss = model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                   labels=labels).loss
    else:
      sequence = model.rembert(input_ids=ids, attention_mask=mask,
                               token_type_ids=types)[0]
      logits = model.cls(sequence[rows, positions])
      loss = torch.nn.functional.cross_entropy(
          logits.reshape(-1, c["vocab_size"]), targets.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
  return train


def _ceiling(framework: str) -> float:
  """Median GFLOP/s of a 2048^3 fp32 matmul."""
  n, times = 2048, []
  if framework == "tf":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    a = tf.random.normal([n, n])
    matmul = tf.function(lambda: tf.matmul(a, a))
    run = lambda: matmul().numpy()
  else:
    import torch  # pylint: disable=g-import-not-at-top
    a = torch.randn(n, n)
    run = lambda: torch.mm(a, a)
  run()
  for _ in range(10):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return 2 * n ** 3 / statistics.median(times) / 1e9


def worker(impl: str, config: str, mode: str, steps: int, warmup: int) -> dict:
  """Times one implementation in this process; returns one JSON-able row."""
  if impl == "ceiling":
    return {"impl": impl, "mode": mode, "gflops": _ceiling(mode)}
  c = CONFIGS[config]
  make = _torch_step if impl.startswith("hf") else _tf_step
  step = make(impl, mode, c)
  start = time.perf_counter()
  for _ in range(warmup):
    step()
  first_seconds = time.perf_counter() - start
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    result = step()
    if hasattr(result, "numpy"):
      result.numpy()
    times.append(time.perf_counter() - start)
  train = mode.startswith("train")
  positions = c["seq_length"] if impl == "hf_stock" and train else c["masked"]
  return {"impl": impl, "config": config, "mode": mode,
          "step_seconds": times, "warmup_seconds": first_seconds,
          "gflop_per_step": matmul_flops(c, positions, train) / 1e9,
          "peak_rss_mib": resource.getrusage(
              resource.RUSAGE_SELF).ru_maxrss / 1024}


def _row_text(r: dict, ceiling: float, ours: dict) -> list[str]:
  batch = CONFIGS[r["config"]]["batch_size"]
  rates = [batch / t for t in r["step_seconds"]]
  median = statistics.median(rates)
  gflops = r["gflop_per_step"] * median / batch
  ratio = ""
  mine = ours.get((r["config"], r["mode"].split("_")[0]))
  if r["impl"] != "ours" and mine:
    ratio = f"{mine / median:.2f}x"
  return [r["config"], r["impl"], r["mode"], f"{r['gflop_per_step']:.1f}",
          f"{median:.2f}", f"{min(rates):.2f}..{max(rates):.2f}",
          f"{gflops:.1f}", f"{100 * gflops / ceiling:.0f}%",
          f"{r['peak_rss_mib']:.0f}", ratio]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", default="small,base")
  parser.add_argument("--impls", default=",".join(MODES))
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--json", default=os.path.join(ROOT, "out", "bench",
                                                     "pretraining.json"))
  parser.add_argument("--worker", nargs=3, metavar=("IMPL", "CONFIG", "MODE"))
  args = parser.parse_args()
  if args.worker:
    print(json.dumps(worker(*args.worker, args.steps, args.warmup)))
    return
  jobs = [("ceiling", "-", "tf"), ("ceiling", "-", "torch")]
  for config in args.configs.split(","):
    for impl in args.impls.split(","):
      jobs += [(impl, config, mode) for mode in MODES[impl]]
  rows = []
  env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3",
         "TF_USE_LEGACY_KERAS": "1"}
  for repeat in range(args.repeats):
    for job in jobs:  # Interleaved: every implementation once per repeat.
      print(f"[{repeat + 1}/{args.repeats}] {' '.join(job)}", file=sys.stderr,
            flush=True)
      out = subprocess.run(
          [sys.executable, __file__, "--worker", *job,
           f"--steps={args.steps}", f"--warmup={args.warmup}"],
          env=env, capture_output=True, text=True, check=True).stdout
      rows.append(json.loads(out.strip().splitlines()[-1]))
  ceilings = [r["gflops"] for r in rows if r["impl"] == "ceiling"]
  ceiling = max(statistics.median([r["gflops"] for r in rows if
                                   r["impl"] == "ceiling" and r["mode"] == m])
                for m in ("tf", "torch"))
  merged = {}
  for r in rows:
    if r["impl"] != "ceiling":
      key = (r["config"], r["impl"], r["mode"])
      merged.setdefault(key, {**r, "step_seconds": []})["step_seconds"] += (
          r["step_seconds"])
      merged[key]["peak_rss_mib"] = max(merged[key]["peak_rss_mib"],
                                        r["peak_rss_mib"])
  ours = {(k[0], k[2].split("_")[0]): max(
      CONFIGS[k[0]]["batch_size"] / statistics.median(v["step_seconds"])
      for kk, v in merged.items() if kk[0] == k[0] and kk[1] == "ours"
      and kk[2].split("_")[0] == k[2].split("_")[0])
          for k in merged if k[1] == "ours"}
  header = ["config", "impl", "mode", "GFLOP/step", "seq/s", "min..max",
            "GFLOP/s", "ceiling", "peak MiB", "ours/peer"]
  table = [header] + [_row_text(r, ceiling, ours) for r in merged.values()]
  widths = [max(len(row[i]) for row in table) for i in range(len(header))]
  print(f"fp32 matmul ceiling (2048^3, median of runs): {ceiling:.1f} GFLOP/s "
        f"(all runs: {', '.join(f'{g:.0f}' for g in ceilings)})")
  for row in table:
    print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
  os.makedirs(os.path.dirname(args.json), exist_ok=True)
  with open(args.json, "w") as f:
    json.dump({"ceiling_gflops": ceiling, "rows": rows}, f, indent=1)
  print(f"\nwrote {args.json}")


if __name__ == "__main__":
  main()
