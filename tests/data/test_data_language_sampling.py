"""Tests for rembert_tf.data.language_sampling and the sampled training input."""

import os

import numpy as np
import pytest

import rembert_tf  # noqa: F401  Sets the TensorFlow env defaults first.
from rembert_tf.data import input_pipeline
from rembert_tf.data import language_sampling
from rembert_tf.data import pipeline


def test_formula():
  counts = {"en": 900, "sw": 100}
  assert language_sampling.sampling_weights(counts, 1.0) == pytest.approx(
      {"en": 0.9, "sw": 0.1})
  assert language_sampling.sampling_weights(counts, 0.0) == pytest.approx(
      {"en": 0.5, "sw": 0.5})
  # alpha = 0.5: sqrt(0.9) : sqrt(0.1) = 3 : 1.
  assert language_sampling.sampling_weights(counts, 0.5) == pytest.approx(
      {"en": 0.75, "sw": 0.25})


def test_rejects_bad_input():
  with pytest.raises(ValueError, match="alpha must be >= 0"):
    language_sampling.sampling_weights({"en": 1}, -1)
  with pytest.raises(ValueError, match="positive count"):
    language_sampling.sampling_weights({"en": 5, "sw": 0}, 0.5)


def _script(text):
  if any("\u4e00" <= c <= "\u9fff" for c in text):
    return "zh"
  if any("\u0400" <= c <= "\u04ff" for c in text):
    return "ru"
  return "en"


def test_realized_mixture_matches_weights(demo_root, sp_model, vocab, tmp_path):
  """Languages of very different sizes are drawn with p ∝ n^alpha."""
  files = {}
  for lang, keep_docs in [("en", 120), ("ru", 30), ("zh", 8)]:
    with open(f"{demo_root}/pretrain/{lang}/demo.txt", encoding="utf-8") as f:
      docs = f.read().split("\n\n")[:keep_docs]
    os.makedirs(tmp_path / lang)
    path = tmp_path / lang / "part.txt"
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    files[lang] = [str(path)]
  config = pipeline.DataPrepConfig(
      input_files=files, output_dir=str(tmp_path / "out"), sp_model_file=sp_model,
      max_seq_length=48, max_predictions_per_seq=6, dupe_factor=1, alpha=0.5,
      num_shards=2, num_workers=1)
  meta = pipeline.run(config)
  n = {lang: meta["languages"][lang]["sentences"] for lang in files}
  p = np.array(list(n.values()), float) ** 0.5
  expected = dict(zip(n, p / p.sum()))
  assert meta["sampling"]["weights"] == pytest.approx(expected)

  ds = input_pipeline.make_pretraining_dataset(
      config.output_dir, batch_size=100, max_seq_length=48,
      max_predictions_per_seq=6, seed=7, shuffle_buffer_size=100)
  draws = []
  for batch in ds.take(40).as_numpy_iterator():
    ids = batch["input_word_ids"].copy()
    real = batch["masked_lm_weights"] > 0  # Undo random replacements first.
    ids[np.nonzero(real)[0], batch["masked_lm_positions"][real]] = (
        batch["masked_lm_ids"][real])
    draws += [_script(vocab.processor.decode(row.tolist())) for row in ids]
  assert len(draws) == 4000
  for lang, weight in expected.items():
    observed = draws.count(lang) / len(draws)
    assert abs(observed - weight) < 4 * np.sqrt(weight * (1 - weight) / len(draws)), (
        lang, observed, weight)
