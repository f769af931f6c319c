"""Packs consecutive sentences of a document into `[CLS] ... [SEP]` rows.

RemBERT is MLM-only, so there are no sentence pairs: sentences are appended
while they fit in `max_seq_length - 2` tokens; a sequence never crosses a
document boundary, and a sentence longer than the budget is cut into pieces
rather than dropped.
"""

from typing import Iterable, Iterator, Sequence

import numpy as np

from rembert_tf.data.sentencepiece_vocab import SpecialIds


def pack_document(sentences: Iterable[Sequence[int]],
                  budget: int) -> Iterator[list[int]]:
  """Yields token lists of at most `budget` ids from one document."""
  current: list[int] = []
  for ids in sentences:
    if len(current) + len(ids) > budget and current:
      yield current
      current = []
    start = 0
    while len(ids) - start > budget:
      yield list(ids[start:start + budget])
      start += budget
    current.extend(ids[start:])
  if current:
    yield current


def to_arrays(sequences: Sequence[Sequence[int]], max_seq_length: int,
              special: SpecialIds) -> tuple[np.ndarray, np.ndarray]:
  """Adds [CLS]/[SEP] and padding; returns int32 (input_word_ids, input_mask)."""
  ids = np.full((len(sequences), max_seq_length), special.pad, np.int32)
  mask = np.zeros_like(ids)
  for row, seq in enumerate(sequences):
    n = len(seq)
    ids[row, 0] = special.cls
    ids[row, 1:n + 1] = seq
    ids[row, n + 1] = special.sep
    mask[row, :n + 2] = 1
  return ids, mask
