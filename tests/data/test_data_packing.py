"""Tests for rembert_tf.data.packing."""

import numpy as np

from rembert_tf.data import packing
from rembert_tf.data.sentencepiece_vocab import SpecialIds

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)


def test_packs_consecutive_sentences_up_to_budget():
  sentences = [[10] * 3, [11] * 4, [12] * 2, [13] * 6, [14]]
  assert list(packing.pack_document(sentences, 8)) == [
      [10] * 3 + [11] * 4, [12] * 2 + [13] * 6, [14]]


def test_long_sentence_is_split_not_dropped():
  sentences = [[9], list(range(100, 120)), [7, 7]]
  packed = list(packing.pack_document(sentences, 8))
  assert packed == [[9], list(range(100, 108)), list(range(108, 116)),
                    list(range(116, 120)) + [7, 7]]
  assert all(len(p) <= 8 for p in packed)


def test_to_arrays_layout():
  ids, mask = packing.to_arrays([[5, 6, 7], [8]], 6, SPECIAL)
  np.testing.assert_array_equal(ids, [[2, 5, 6, 7, 3, 0], [2, 8, 3, 0, 0, 0]])
  np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])
  assert ids.dtype == mask.dtype == np.int32
