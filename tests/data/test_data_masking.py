"""Tests for rembert_tf.data.masking: exact invariants, statistical proportions."""

import numpy as np
import pytest

from rembert_tf.data import masking
from rembert_tf.data import packing


@pytest.fixture(scope="module")
def batch(vocab, demo_root):
  """Packed rows of real demo text from every language."""
  sentences = []
  for lang in ("en", "ru", "hi", "zh", "vi", "ar"):
    with open(f"{demo_root}/pretrain/{lang}/demo.txt", encoding="utf-8") as f:
      sentences += [line.strip() for line in f if line.strip()]
  ids = vocab.processor.encode(sentences)
  rows = list(packing.pack_document(ids, 62))
  return packing.to_arrays(rows, 64, vocab.special)


def _check_invariants(ids, input_mask, out, vocab, config):
  positions = out["masked_lm_positions"]
  weights = out["masked_lm_weights"]
  real = weights > 0
  maskable = ~vocab.never_mask[ids] & (input_mask > 0)
  expected_counts = masking.num_to_predict(maskable.sum(1), config)
  for r in range(ids.shape[0]):
    k = int(real[r].sum())
    assert np.all(real[r, :k]) and not np.any(real[r, k:])  # Real slots first.
    pos = positions[r, :k]
    assert np.all(np.diff(pos) > 0)  # Sorted, unique.
    assert np.all(maskable[r, pos])  # Never [CLS]/[SEP]/pad.
    np.testing.assert_array_equal(out["masked_lm_ids"][r, :k], ids[r, pos])
    assert not positions[r, k:].any() and not out["masked_lm_ids"][r, k:].any()
    changed = np.flatnonzero(out["input_word_ids"][r] != ids[r])
    assert set(changed) <= set(pos)  # Only predicted positions change.
    if not config.do_whole_word_mask:
      assert k == expected_counts[r]
    else:
      assert 0 < k <= expected_counts[r] or expected_counts[r] == 0
  assert weights.dtype == np.float32 and set(np.unique(weights)) <= {0.0, 1.0}
  assert positions.shape == (ids.shape[0], config.max_predictions_per_seq)


@pytest.mark.parametrize("wwm", [False, True])
def test_invariants(batch, vocab, wwm):
  ids, input_mask = batch
  config = masking.MaskingConfig(0.15, 7, wwm)
  out = masking.mask_batch(ids, input_mask, vocab, config, np.random.default_rng(0))
  _check_invariants(ids, input_mask, out, vocab, config)


def test_count_formula_and_cap():
  config = masking.MaskingConfig(0.15, 20, False)
  n = np.array([0, 1, 3, 10, 16, 17, 100, 133, 134, 500])
  expected = [0, 1, 1, 2, 2, 3, 15, 20, 20, 20]  # round(0.15 n), >= 1, <= 20.
  np.testing.assert_array_equal(masking.num_to_predict(n, config), expected)


def test_proportions(batch, vocab):
  ids, input_mask = batch
  ids = np.tile(ids, (8, 1))
  input_mask = np.tile(input_mask, (8, 1))
  config = masking.MaskingConfig(0.15, 20, False)
  out = masking.mask_batch(ids, input_mask, vocab, config, np.random.default_rng(1))
  real = out["masked_lm_weights"] > 0
  rows = np.nonzero(real)[0]
  pos = out["masked_lm_positions"][real]
  new, old = out["input_word_ids"][rows, pos], out["masked_lm_ids"][real]
  n = rows.size
  assert n > 5000
  is_mask = new == vocab.special.mask
  kept = new == old
  replaced = ~is_mask & ~kept
  # Random replacements can draw the original id; that is rare with this vocab.
  for observed, p in [(is_mask.mean(), 0.8), (replaced.mean() + kept.mean(), 0.2),
                      (kept.mean(), 0.1)]:
    assert abs(observed - p) < 4 * np.sqrt(p * (1 - p) / n) + 0.005, (observed, p)
  assert not vocab.never_mask[new[replaced]].any()
  # Every maskable position is equally likely: masked fraction ~ 15 %.
  maskable = (~vocab.never_mask[ids] & (input_mask > 0)).sum()
  assert abs(n / maskable - 0.15) < 0.01


def test_whole_word_masking_masks_whole_words(batch, vocab):
  ids, input_mask = batch
  config = masking.MaskingConfig(0.15, 20, True)
  out = masking.mask_batch(ids, input_mask, vocab, config, np.random.default_rng(2))
  maskable = ~vocab.never_mask[ids] & (input_mask > 0)
  multi_piece_words = 0
  for r in range(ids.shape[0]):
    chosen = set(out["masked_lm_positions"][r][out["masked_lm_weights"][r] > 0])
    for p in chosen:  # A chosen continuation piece implies its word start...
      if p > 0 and maskable[r, p - 1] and not vocab.word_start[ids[r, p]]:
        assert p - 1 in chosen
      nxt = p + 1  # ...and the piece after it is chosen if it continues the word.
      if nxt < ids.shape[1] and maskable[r, nxt] and not vocab.word_start[ids[r, nxt]]:
        assert nxt in chosen
        multi_piece_words += 1
  assert multi_piece_words > 10


def test_deterministic_for_a_seed(batch, vocab):
  ids, input_mask = batch
  config = masking.MaskingConfig()
  a = masking.mask_batch(ids, input_mask, vocab, config, np.random.default_rng(5))
  b = masking.mask_batch(ids, input_mask, vocab, config, np.random.default_rng(5))
  c = masking.mask_batch(ids, input_mask, vocab, config, np.random.default_rng(6))
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert not np.array_equal(a["masked_lm_positions"], c["masked_lm_positions"])
