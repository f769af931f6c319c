"""Vectorized MLM masking over a batch of packed rows (NumPy, no Python loop
per token).

Per row, `round(masked_lm_prob * n)` positions are predicted (at least one,
at most `max_predictions_per_seq`), where `n` counts the maskable tokens:
everything except control pieces ([CLS], [SEP], [MASK]), unused pieces and
padding. Of the predicted positions 80% become [MASK], 10% a random normal
piece and 10% stay unchanged, as in BERT.

With whole-word masking a word is a piece starting with SentencePiece's "▁"
plus the pieces that follow it up to the next such piece; words are drawn in
random order and taken while the running count still fits the budget (words
longer than the budget are never drawn). Scripts written without spaces (Chinese)
form long "words", so whole-word masking suits spaced scripts best.
"""

import dataclasses

import numpy as np

from rembert_tf.data.sentencepiece_vocab import Vocab

MASK_FRACTION = 0.8
RANDOM_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class MaskingConfig:
  masked_lm_prob: float = 0.15
  max_predictions_per_seq: int = 20
  do_whole_word_mask: bool = False


def num_to_predict(num_maskable: np.ndarray, config: MaskingConfig) -> np.ndarray:
  """How many positions each row predicts, given its maskable-token count."""
  n = np.maximum(1, np.rint(num_maskable * config.masked_lm_prob)).astype(int)
  n = np.minimum(n, config.max_predictions_per_seq)
  return np.where(num_maskable > 0, np.minimum(n, num_maskable), 0)


def _select(maskable: np.ndarray, word_start: np.ndarray, budget: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
  """Picks random whole words per row, up to `budget` tokens; bool [B, S]."""
  rows, length = maskable.shape
  word = np.maximum(np.cumsum(word_start, axis=1) - 1, 0)
  flat_word = (np.arange(rows)[:, None] * length + word)[maskable]
  word_len = np.bincount(flat_word, minlength=rows * length).reshape(rows, length)
  eligible = maskable & (np.take_along_axis(word_len, word, 1) <= budget[:, None])
  key = np.take_along_axis(rng.random((rows, length)), word, 1)
  key[~eligible] = 2.0  # After every real key; stable sort keeps words whole.
  order = np.argsort(key, axis=1, kind="stable")
  s_eligible = np.take_along_axis(eligible, order, 1)
  s_word = np.take_along_axis(word, order, 1)
  taken = np.cumsum(s_eligible, axis=1)
  last = s_eligible.copy()
  last[:, :-1] &= (s_word[:, 1:] != s_word[:, :-1]) | ~s_eligible[:, 1:]
  word_end_count = np.where(last, taken, np.iinfo(taken.dtype).max)
  word_end_count = np.minimum.accumulate(word_end_count[:, ::-1], axis=1)[:, ::-1]
  chosen = np.zeros_like(maskable)
  np.put_along_axis(chosen, order, s_eligible & (word_end_count <= budget[:, None]), 1)
  return chosen


def mask_batch(input_word_ids: np.ndarray, input_mask: np.ndarray, vocab: Vocab,
               config: MaskingConfig,
               rng: np.random.Generator) -> dict[str, np.ndarray]:
  """Masks int32 [B, S] rows; returns the masked ids and the MLM targets."""
  ids = input_word_ids
  maskable = ~vocab.never_mask[ids] & (input_mask > 0)
  budget = num_to_predict(maskable.sum(axis=1), config)
  if config.do_whole_word_mask:
    previous = np.zeros_like(maskable)
    previous[:, 1:] = maskable[:, :-1]
    word_start = maskable & (vocab.word_start[ids] | ~previous)
  else:
    word_start = maskable
  chosen = _select(maskable, word_start, budget, rng)

  rows, cols = np.nonzero(chosen)  # Row-major: columns ascend within a row.
  slot = (np.cumsum(chosen, axis=1) - 1)[rows, cols]
  shape = (ids.shape[0], config.max_predictions_per_seq)
  positions = np.zeros(shape, np.int32)
  labels = np.zeros(shape, np.int32)
  weights = np.zeros(shape, np.float32)
  positions[rows, slot] = cols
  labels[rows, slot] = ids[rows, cols]
  weights[rows, slot] = 1.0

  draw = rng.random(rows.size)
  new_ids = ids.copy()
  to_mask = draw < MASK_FRACTION
  to_random = (draw >= MASK_FRACTION) & (draw < MASK_FRACTION + RANDOM_FRACTION)
  new_ids[rows[to_mask], cols[to_mask]] = vocab.special.mask
  new_ids[rows[to_random], cols[to_random]] = vocab.replacement_ids[
      rng.integers(vocab.replacement_ids.size, size=int(to_random.sum()))]
  return {"input_word_ids": new_ids, "masked_lm_positions": positions,
          "masked_lm_ids": labels, "masked_lm_weights": weights}
