"""Words -> windows of pieces, and window positions -> words: the one
implementation.

Data prep (`features`) and the SavedModel (`export`, inside its graph) call
these functions, so the rows they make, and which position of which row
predicts which word, cannot disagree. They are pure TensorFlow over a batch of
sentences (ragged piece ids in, eager or in a graph).

Each word is tokenized on its own, so its pieces start a word ("▁") as in
XTREME; a word SentencePiece gives no piece (all its characters normalised
away) gets one unk piece, so that every word has a first piece. A window is
`[CLS] pieces [SEP]`, padded with the pad id, type ids 0, and holds whole
words only. A sentence whose pieces do not fit `max_seq_length - 2` is cut
greedily, as XTREME cuts long sentences: each window takes as many whole words
as fit, the next starts at the first word left out (no overlap). Every word is
thus in exactly one window, where its first piece predicts its tag and its
other pieces predict nothing. A word with more pieces than a window holds is
an error in data prep (`features`); here (the SavedModel's raw text) it keeps
its first `max_seq_length - 2` pieces, so it still gets its tag.
"""

from typing import Mapping

import tensorflow as tf


def _word_pieces(words: tf.RaggedTensor, limit: int,
                 unk_id: int) -> tf.RaggedTensor:
  """Each word's first `limit` pieces; one unk piece for a word with none."""
  unk = tf.RaggedTensor.from_tensor(tf.fill([words.nrows(), 1], unk_id))
  keep = tf.clip_by_value(words.row_lengths(), 1, limit)
  return tf.gather(tf.concat([words, unk], axis=1), tf.ragged.range(keep),
                   batch_dims=1)


def _window_bounds(piece_ends: tf.Tensor, first_word: tf.Tensor,
                   last_word: tf.Tensor, limit: int
                   ) -> tuple[tf.Tensor, tf.Tensor]:
  """Greedy windows: [first, end) word ranges, ordered by their first word.

  One round per window of the longest sentence, all sentences at once: a
  window ends before the first word whose pieces would pass `limit`.
  """
  piece_starts = tf.concat([tf.zeros([1], tf.int64), piece_ends], axis=0)
  empty = tf.zeros([0], tf.int64)

  def next_windows(current, firsts, ends):
    active = current < last_word
    end = tf.searchsorted(piece_ends, tf.gather(piece_starts, current) + limit,
                          side="right", out_type=tf.int64)
    end = tf.where(active, tf.minimum(end, last_word), current)
    return (end, tf.concat([firsts, tf.boolean_mask(current, active)], 0),
            tf.concat([ends, tf.boolean_mask(end, active)], 0))

  _, firsts, ends = tf.while_loop(
      lambda current, *_: tf.reduce_any(current < last_word), next_windows,
      (first_word, empty, empty),
      shape_invariants=(first_word.shape, tf.TensorShape([None]),
                        tf.TensorShape([None])))
  order = tf.argsort(firsts)
  return tf.gather(firsts, order), tf.gather(ends, order)


def layout_windows(pieces: tf.RaggedTensor, *, max_seq_length: int,
                   special_ids: Mapping[str, int]) -> dict[str, tf.Tensor]:
  """The windows of a batch of sentences as model inputs, in sentence order,
  a sentence's windows in order.

  Args:
    pieces: int32 [sentences, (words), (pieces)], each word's piece ids.
    max_seq_length: the row length, [CLS] and [SEP] included.
    special_ids: the "cls", "sep", "pad" and "unk" ids.

  Returns:
    int32 [F, max_seq_length] `input_word_ids`, `input_mask`,
    `input_type_ids` and `word_index` (at a word's first piece, the word's
    index in its sentence; -1 elsewhere); int32 [F] `sentence_index`.
  """
  limit = max_seq_length - 2
  words = _word_pieces(pieces.values, limit, special_ids["unk"])
  piece_ends = tf.cumsum(words.row_lengths())
  splits = pieces.row_splits
  firsts, ends = _window_bounds(piece_ends, splits[:-1], splits[1:], limit)
  sentence = tf.gather(pieces.value_rowids(), firsts)
  piece_starts = tf.concat([tf.zeros([1], tf.int64), piece_ends], axis=0)
  begin = tf.gather(piece_starts, firsts)[:, None]
  length = tf.gather(piece_starts, ends)[:, None] - begin
  p = tf.range(max_seq_length, dtype=tf.int64)[None, :]
  # Index into the flat pieces; their count (a padding entry) outside.
  num_pieces = tf.size(words.flat_values, tf.int64)
  at = tf.where((p >= 1) & (p <= length), begin + p - 1, num_pieces)
  ids = tf.gather(tf.concat([words.flat_values, [special_ids["pad"]]], 0), at)
  ids = tf.where(p == 0, special_ids["cls"],
                 tf.where(p == length + 1, special_ids["sep"], ids))
  word = words.value_rowids()
  is_first = tf.range(num_pieces) == tf.gather(piece_starts, word)
  first_at = tf.gather(tf.concat([is_first, [False]], 0), at)
  word_at = tf.gather(tf.concat([word, tf.zeros([1], tf.int64)], 0), at)
  word_index = tf.where(first_at,
                        word_at - tf.gather(splits, sentence)[:, None], -1)
  return {"input_word_ids": ids,
          "input_mask": tf.cast(p <= length + 1, tf.int32),
          "input_type_ids": tf.zeros_like(ids),
          "word_index": tf.cast(word_index, tf.int32),
          "sentence_index": tf.cast(sentence, tf.int32)}


def word_values(values: tf.Tensor, first_piece: tf.Tensor) -> tf.Tensor:
  """[F, S] per-position values of `layout_windows` rows -> each word's value
  at its first piece (bool [F, S]: `word_index >= 0`), [words], in sentence
  order then word order (the rows' order guarantees it)."""
  return tf.boolean_mask(values, first_piece)
