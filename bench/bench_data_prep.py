r"""Benchmarks RemBERT data prep against tf-models-official's script.

Generates a >= 50 MB corpus with the demo generator (8 languages, parallel
text), trains a SentencePiece model on a slice of it, then runs both
`create_pretraining_data.py` (this repo) and tf-models-official's
`official/nlp/data/create_pretraining_data.py` (SentencePiece mode) on it as
subprocesses with the same sequence settings and `dupe_factor`, and reports
wall time, tokens/s and peak RSS (the whole process tree, sampled every
50 ms). Both rates divide the same token count (SentencePiece tokens of the
corpus, from our metadata) by wall time.

tf-models-official differs in ways that favour it in this comparison: it
strips accents and combining marks before tokenizing (its known flaw, which
breaks Devanagari), builds next-sentence pairs, and holds every document and
instance in memory. `dupe_factor` defaults to 1 here because it multiplies
its time and memory.

  python bench/bench_data_prep.py --target_mb=50 --json_out=out/bench_data_prep.json

Not part of the test suite.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# pylint: disable=wrong-import-position
from rembert_tf.data import demo_corpus
from rembert_tf.data import sentencepiece_vocab
# pylint: enable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_float("target_mb", 50.0, "Minimum corpus size in MB (10**6 bytes).")
flags.DEFINE_string("work_dir", None,
                    "Where to put corpus and outputs (default: a temp dir).")
flags.DEFINE_integer("max_seq_length", 128, "For both scripts.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "For both scripts.")
flags.DEFINE_integer("dupe_factor", 1, "For both scripts.")
flags.DEFINE_integer("num_workers", 0, "Ours: worker processes (0 = all cores).")
flags.DEFINE_string("json_out", None, "Also write the results here as JSON.")

_TFM_SCRIPT = os.path.join(
    importlib.util.find_spec("official").submodule_search_locations[0],
    "nlp", "data", "create_pretraining_data.py")


def _corpus(root: str, target_bytes: float) -> dict[str, list[str]]:
  """Writes the demo text scaled to at least `target_bytes`."""
  sample = os.path.join(root, "sample")
  demo_corpus.write_pretraining_text(sample, 200, seed=0)
  sample_bytes = sum(os.path.getsize(os.path.join(sample, "pretrain", l, "demo.txt"))
                     for l in demo_corpus.LANGUAGES)
  files = {l: [os.path.join(root, "pretrain", l, "demo.txt")]
           for l in demo_corpus.LANGUAGES}
  docs, size = 200, sample_bytes
  while size < target_bytes:
    docs = math.ceil(docs * target_bytes / size * 1.01)
    demo_corpus.write_pretraining_text(root, docs, seed=0)
    size = sum(os.path.getsize(f[0]) for f in files.values())
  return files


def _measure(cmd: list[str], log_path: str) -> dict[str, float]:
  """Runs `cmd`; returns wall seconds and the peak RSS of its process tree."""
  env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3",
         "TF_USE_LEGACY_KERAS": "1"}
  start = time.time()
  with open(log_path, "w") as log:
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
      try:
        tree = [root] + root.children(recursive=True)
        peak = max(peak, sum(p.memory_info().rss for p in tree))
      except psutil.Error:
        pass
      time.sleep(0.05)
  wall = time.time() - start
  if proc.returncode:
    raise SystemExit(f"{cmd[1]} failed (exit {proc.returncode}); see {log_path}")
  return {"wall_s": wall, "peak_rss_mb": peak / 2**20}


def main(argv):
  del argv
  work = FLAGS.work_dir or tempfile.mkdtemp(prefix="bench_data_prep_")
  files = _corpus(os.path.join(work, "corpus"), FLAGS.target_mb * 1e6)
  corpus_mb = sum(os.path.getsize(f[0]) for f in files.values()) / 1e6
  model = os.path.join(work, "spm", "bench.model")
  if not os.path.exists(model):
    sample = [os.path.join(work, "corpus", "sample", "pretrain", l, "demo.txt")
              for l in demo_corpus.LANGUAGES]
    sentencepiece_vocab.train_model(sample, model[:-len(".model")], 1000)
  common = [f"--sp_model_file={model}", f"--max_seq_length={FLAGS.max_seq_length}",
            f"--max_predictions_per_seq={FLAGS.max_predictions_per_seq}",
            f"--dupe_factor={FLAGS.dupe_factor}", "--masked_lm_prob=0.15",
            "--random_seed=12345"]
  ours_out = os.path.join(work, "ours")
  ours = _measure([sys.executable, os.path.join(REPO, "create_pretraining_data.py"),
                   f"--input_dir={os.path.join(work, 'corpus', 'pretrain')}",
                   f"--languages={','.join(demo_corpus.LANGUAGES)}",
                   f"--output_dir={ours_out}", f"--num_workers={FLAGS.num_workers}",
                   *common], os.path.join(work, "ours.log"))
  with open(os.path.join(ours_out, "metadata.json"), encoding="utf-8") as f:
    meta = json.load(f)
  tfm = _measure([sys.executable, _TFM_SCRIPT, "--tokenization=SentencePiece",
                  "--do_lower_case=false", "--use_v2_feature_names",
                  "--input_file=" + ",".join(f[0] for f in files.values()),
                  f"--output_file={os.path.join(work, 'tfm.tfrecord')}", *common],
                 os.path.join(work, "tfm.log"))
  tokens = meta["totals"]["tokens"]
  for r in (ours, tfm):
    r["tokens_per_s"] = tokens / r["wall_s"]
  result = {"corpus_mb": corpus_mb, "tokens": tokens, "cpu_count": os.cpu_count(),
            "dupe_factor": FLAGS.dupe_factor, "max_seq_length": FLAGS.max_seq_length,
            "ours": ours, "tfm": tfm,
            "speedup": ours["tokens_per_s"] / tfm["tokens_per_s"],
            "memory_ratio": ours["peak_rss_mb"] / tfm["peak_rss_mb"],
            "ours_examples": meta["totals"]["examples"], "work_dir": work}
  print(f"corpus {corpus_mb:.1f} MB, {tokens} SentencePiece tokens, "
        f"{os.cpu_count()} CPUs, dupe_factor {FLAGS.dupe_factor}")
  print(f"{'':8}{'wall s':>10}{'tokens/s':>14}{'peak RSS MB':>14}")
  for name, r in (("ours", ours), ("tfm", tfm)):
    print(f"{name:8}{r['wall_s']:>10.1f}{r['tokens_per_s']:>14.0f}"
          f"{r['peak_rss_mb']:>14.0f}")
  print(f"speedup {result['speedup']:.2f}x, memory ratio {result['memory_ratio']:.3f}")
  if FLAGS.json_out:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.json_out)), exist_ok=True)
    with open(FLAGS.json_out, "w", encoding="utf-8") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  app.run(main)
