"""Doc-stride windows and answer-span candidates: the one implementation.

Data prep (`squad_features`), post-processing (`squad_postprocess`) and the
SavedModel (`squad_export`, inside its graph) all call these functions, so
the rows they make and the answers they pick cannot disagree. They are pure
TensorFlow over a batch of examples (ragged token ids and offsets in, eager or
in a graph); offsets are passed through in whatever unit the caller uses
(characters offline, bytes in the SavedModel).

Layout of each window (google-research/bert): `[CLS] question [SEP] window
[SEP]`, type ids 0 then 1 from the first context token, padded with the pad
id. The question keeps its first `max_query_length` tokens. Window starts
advance by `doc_stride` tokens until the context's end is inside a window, so
every context token is in at least one window (a context without tokens gets
one window without context). Of the windows holding a token, its "max
context" window is the one where it scores best: min(tokens left of it,
tokens right of it) + 0.01 * the window's length, in float64; ties go to the
earlier window (google-research/bert's `_check_is_max_context`). Only there
may a predicted answer start.

Span candidates: per window the `n_best_size` best starts, among context
tokens in their max-context window, and the `n_best_size` best ends, among
context tokens (a piece of only whitespace, with an empty span, is neither);
ties go to the earlier position. Unlike google-research/bert, positions that
can never be valid are left out before taking the top `n_best_size`, so they
cannot crowd out valid ones. Every pair with end >= start and at most
`max_answer_length` tokens is a candidate, scored start + end logit (float64).
Candidates are ranked per example by score; ties go to the earlier window,
then the better-ranked start, then end. An example's first candidate is its
answer.

SQuAD 2.0's null answer: the [CLS] start + end logit, the lowest over an
example's windows (the first such window on ties), `null_windows`.
"""

from typing import Any, Mapping

import numpy as np
import tensorflow as tf


def _element_rows(lengths: tf.Tensor) -> tf.Tensor:
  """int32 [sum(lengths)]: the row of each element of rows of these lengths
  (RaggedTensor.value_rowids in fewer eager ops)."""
  return tf.searchsorted(tf.cumsum(lengths), tf.range(tf.reduce_sum(lengths)),
                         side="right", out_type=tf.int32)


def _num_windows(num_tokens: tf.Tensor, window_length: tf.Tensor,
                 doc_stride: int) -> tf.Tensor:
  """Windows until the context's end is inside one: at least one."""
  return 1 + tf.maximum(
      (num_tokens - window_length + doc_stride - 1) // doc_stride, 0)


def _max_context_windows(num_tokens: tf.Tensor, window_length: tf.Tensor,
                         doc_stride: int) -> tf.Tensor:
  """int32 [sum(num_tokens)]: the max-context window of each context token.

  Only the windows that can hold a token are scored (at most
  ceil(window_length / doc_stride) of them), so the work grows with the
  number of tokens, not with tokens times windows.
  """
  num_windows = _num_windows(num_tokens, window_length, doc_stride)
  row = _element_rows(num_tokens)
  t = (tf.range(tf.size(row)) -
       tf.gather(tf.cumsum(num_tokens, exclusive=True), row))[:, None]
  most = tf.maximum(tf.minimum(
      tf.reduce_max(num_windows),
      (tf.reduce_max(window_length) + doc_stride - 1) // doc_stride), 1)
  # The `most` windows up to the last one starting at or before the token.
  last = tf.minimum(t // doc_stride, tf.gather(num_windows, row)[:, None] - 1)
  window = last - most + 1 + tf.range(most)[None, :]  # [T, most], ascending
  first = window * doc_stride
  length = tf.minimum(tf.gather(window_length, row)[:, None],
                      tf.gather(num_tokens, row)[:, None] - first)
  holds = (window >= 0) & (t < first + length)
  score = tf.cast(tf.minimum(t - first, first + length - 1 - t),
                  tf.float64) + 0.01 * tf.cast(length, tf.float64)
  best = tf.argmax(tf.where(holds, score, -np.inf), axis=1)  # First: earlier.
  return tf.gather(window, best, batch_dims=1)


def _gather_or(values: tf.Tensor, index: tf.Tensor, outside: Any) -> tf.Tensor:
  """values[index], and `outside` where index is len(values)."""
  return tf.gather(
      tf.concat([values, tf.constant([outside], values.dtype)], axis=0), index)


def layout_windows(question_ids: tf.RaggedTensor, context_ids: tf.RaggedTensor,
                   context_starts: tf.RaggedTensor,
                   context_ends: tf.RaggedTensor, *, max_seq_length: int,
                   doc_stride: int, max_query_length: int,
                   special_ids: Mapping[str, int]) -> dict[str, tf.Tensor]:
  """The windows of each (question, context) as model inputs, in example
  order, an example's windows in order.

  Args:
    question_ids: int32 [batch, (pieces)], the whole question.
    context_ids: int32 [batch, (tokens)], the whole context.
    context_starts: [batch, (tokens)], each token's start offset.
    context_ends: [batch, (tokens)], each token's end offset.
    max_seq_length: the row length.
    doc_stride: tokens between window starts.
    max_query_length: question tokens kept.
    special_ids: the "cls", "sep" and "pad" ids.

  Returns:
    int32 [F, max_seq_length] `input_word_ids`, `input_mask`,
    `input_type_ids` and `token_index` (the context token, -1 outside the
    context); `token_starts` and `token_ends` (the offsets, -1 outside the
    context) and bool `token_is_max_context`, also [F, max_seq_length]; int32
    [F] `example_index` and `window_index`.
  """
  # int32 arithmetic: half the memory traffic of int64 on [F, S] tensors.
  question_length = tf.minimum(
      tf.cast(question_ids.row_lengths(), tf.int32), max_query_length)
  question_start = tf.cast(question_ids.row_starts(), tf.int32)
  num_tokens = tf.cast(context_ids.row_lengths(), tf.int32)
  context_start = tf.cast(context_ids.row_starts(), tf.int32)
  window_length = max_seq_length - question_length - 3
  num_windows = _num_windows(num_tokens, window_length, doc_stride)
  example = _element_rows(num_windows)
  window = tf.range(tf.size(example)) - tf.gather(
      tf.cumsum(num_windows, exclusive=True), example)
  # Per row [F, 1]: the question's end, the context's first and end positions
  # and the row's first context token.
  q = tf.gather(question_length, example)[:, None]
  first = (window * doc_stride)[:, None]
  context_end = q + 2 + tf.minimum(
      tf.gather(window_length, example)[:, None],
      tf.gather(num_tokens, example)[:, None] - first)
  p = tf.range(max_seq_length)[None, :]
  is_question = (p >= 1) & (p <= q)
  is_context = (p >= q + 2) & (p < context_end)
  token = tf.where(is_context, p + (first - q - 2), -1)
  # Indices into the flat values; their length where there is no token.
  question_at = tf.where(
      is_question, p + (tf.gather(question_start, example)[:, None] - 1),
      tf.size(question_ids.flat_values))
  context_at = tf.where(
      is_context, token + tf.gather(context_start, example)[:, None],
      tf.size(context_ids.flat_values))
  word_ids = tf.where(
      is_question, _gather_or(question_ids.flat_values, question_at, 0),
      _gather_or(context_ids.flat_values, context_at, special_ids["pad"]))
  is_sep = (p == q + 1) | (p == context_end)
  word_ids = tf.where(p == 0, special_ids["cls"],
                      tf.where(is_sep, special_ids["sep"], word_ids))
  best = _max_context_windows(num_tokens, window_length, doc_stride)
  inside = p <= context_end
  return {
      "input_word_ids": word_ids,
      "input_mask": tf.cast(inside, tf.int32),
      "input_type_ids": tf.cast(inside & (p >= q + 2), tf.int32),
      "token_index": token,
      "token_starts": _gather_or(context_starts.flat_values, context_at, -1),
      "token_ends": _gather_or(context_ends.flat_values, context_at, -1),
      "token_is_max_context": tf.equal(_gather_or(best, context_at, -1),
                                       window[:, None]),
      "example_index": example,
      "window_index": window,
  }


def span_candidates(start_logits: tf.Tensor, end_logits: tf.Tensor,
                    token_starts: tf.Tensor, token_ends: tf.Tensor,
                    token_is_max_context: tf.Tensor, example_index: tf.Tensor,
                    *, n_best_size: int,
                    max_answer_length: int) -> dict[str, tf.Tensor]:
  """Every candidate span of the windows, ranked per example.

  Args:
    start_logits: [F, S], of the rows of `layout_windows`.
    end_logits: [F, S].
    token_starts: [F, S], offsets, -1 outside the context.
    token_ends: [F, S].
    token_is_max_context: bool [F, S].
    example_index: [F], each row's example.
    n_best_size: starts and ends kept per window.
    max_answer_length: the longest span, in tokens.

  Returns:
    [C] tensors, ordered by example, then rank: `example`, `window` (the row),
    `start` and `end` (positions in the row), float64 `start_logit`,
    `end_logit` and `score` (their sum).
  """
  start_logits = tf.cast(start_logits, tf.float64)
  end_logits = tf.cast(end_logits, tf.float64)
  in_context = (token_starts >= 0) & (token_ends > token_starts)
  start_scores = tf.where(in_context & token_is_max_context, start_logits,
                          -np.inf)
  end_scores = tf.where(in_context, end_logits, -np.inf)
  k = tf.minimum(n_best_size, tf.shape(start_scores)[1])
  top_start_scores, top_start = tf.math.top_k(start_scores, k)
  top_end_scores, top_end = tf.math.top_k(end_scores, k)
  i, j = top_start[:, :, None], top_end[:, None, :]
  valid = (tf.math.is_finite(top_start_scores)[:, :, None] &
           tf.math.is_finite(top_end_scores)[:, None, :] & (j >= i) &
           (j - i < max_answer_length))
  pairs = tf.where(valid)  # Row-major: window, then start rank, end rank.
  window = pairs[:, 0]
  start_at, end_at = pairs[:, :2], tf.gather(pairs, [0, 2], axis=1)
  start_logit = tf.gather_nd(top_start_scores, start_at)
  end_logit = tf.gather_nd(top_end_scores, end_at)
  candidates = {
      "example": tf.gather(example_index, window),
      "window": window,
      "start": tf.gather_nd(top_start, start_at),
      "end": tf.gather_nd(top_end, end_at),
      "start_logit": start_logit,
      "end_logit": end_logit,
      "score": start_logit + end_logit,
  }
  by_score = tf.argsort(candidates["score"], direction="DESCENDING",
                        stable=True)
  order = tf.gather(by_score, tf.argsort(
      tf.gather(candidates["example"], by_score), stable=True))
  return {name: tf.gather(values, order) for name, values in candidates.items()}


def null_windows(start_logits: tf.Tensor, end_logits: tf.Tensor,
                 example_index: tf.Tensor,
                 num_examples: tf.Tensor) -> dict[str, tf.Tensor]:
  """SQuAD 2.0's null answer of each example: the window whose [CLS] start +
  end logit is the lowest (the first such window on ties).

  Returns:
    [num_examples] tensors: `window` (the row) and float64 `score`.
  """
  null = (tf.cast(start_logits[:, 0], tf.float64) +
          tf.cast(end_logits[:, 0], tf.float64))
  example_index = tf.cast(example_index, tf.int64)
  score = tf.math.unsorted_segment_min(null, example_index, num_examples)
  rows = tf.range(tf.size(null, out_type=tf.int64), dtype=tf.int64)
  is_lowest = tf.equal(null, tf.gather(score, example_index))
  window = tf.math.unsorted_segment_min(
      tf.where(is_lowest, rows, tf.int64.max), example_index, num_examples)
  return {"window": window, "score": score}
