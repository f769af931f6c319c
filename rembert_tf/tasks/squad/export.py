"""The fine-tuned span labeler as a SavedModel that answers raw questions.

Signature `serving_default`: `question`, `context` (string [batch]) ->
`answer` (string [batch]) and `score` (float32 [batch]). Everything between
runs inside the graph, with the steps of training and `run_squad.py`'s
evaluation, so a served answer is the one `squad_postprocess` gives for the
same logits:
  - SentencePiece (tensorflow_text, the same ids and byte offsets as the
    sentencepiece library) on the raw question and the whole raw context; a
    "▁" piece's start moves past the whitespace it absorbed, as in
    `squad_features`.
  - The question keeps its first `max_query_length` pieces; the context is
    cut into doc-stride windows (`[CLS] q [SEP] window [SEP]`, padded to
    `max_seq_length`), as many as the context needs, and all windows of the
    batch go through the model in one call. A context of any length is read
    whole: nothing is truncated.
  - Per window the `n_best_size` best starts (context tokens in their max-
    context window) and ends (context tokens) are paired, spans longer than
    `max_answer_length` tokens dropped, and the best start + end logit over
    all windows of a question wins.
  - The answer is cut from the original context bytes (no detokenization),
    so it is an exact substring. `score` is its start + end logit. With
    `version_2_with_negative` the answer is "" when the null score ([CLS],
    lowest over the windows) exceeds the best span's by more than
    `null_score_diff_threshold`, and `score` is then the null score. A
    context without any possible span (empty) gives "" and score -inf.

Loading needs `import tensorflow_text` first (the SentencePiece op). The
settings and special ids are recorded in `assets.extra/squad_settings.json`.
"""

import dataclasses
import json
import os
from typing import Any, Mapping

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import tf_keras

from rembert_tf.data.sentencepiece_vocab import Vocab
from rembert_tf.tasks import export

SETTINGS_FILE = os.path.join("assets.extra", "squad_settings.json")
# Python's str.isspace() set, which squad_features strips with lstrip().
_LEADING_WHITESPACE = r"^[\t\n\x0b\x0c\r\x1c-\x1f\x{85}\p{Z}]+"


@dataclasses.dataclass(frozen=True)
class AnswerSettings:
  """How windows are cut and answers chosen (run_squad.py's flags)."""
  max_seq_length: int
  doc_stride: int
  max_query_length: int
  n_best_size: int
  max_answer_length: int
  version_2_with_negative: bool = False
  null_score_diff_threshold: float = 0.0


def _gather_rows(table: tf.Tensor, rows: tf.Tensor,
                 columns: tf.Tensor) -> tf.Tensor:
  """table[rows[f], columns[f, p]], with columns clipped into the table."""
  columns = tf.broadcast_to(
      tf.clip_by_value(columns, 0, tf.shape(table, tf.int64)[1] - 1),
      [tf.shape(rows)[0], tf.shape(columns)[-1]])
  return tf.gather(tf.gather(table, rows), columns, batch_dims=1)


def _dense(ragged: tf.RaggedTensor, pad: Any) -> tf.Tensor:
  """[batch, max(1, longest)]: never zero columns, so gathers stay valid."""
  dense = ragged.to_tensor(default_value=pad)
  padding = tf.fill([tf.shape(dense)[0], 1], tf.cast(pad, dense.dtype))
  return tf.concat([dense, padding], axis=1)


class SpanModule(tf.Module):
  """The model with in-graph windows and answer selection."""

  def __init__(self, model: tf_keras.Model, sp_model: bytes,
               word_start: np.ndarray, special_ids: Mapping[str, int],
               settings: AnswerSettings):
    super().__init__()
    self.model = model
    self._tokenizer = tf_text.SentencepieceTokenizer(model=sp_model,
                                                     out_type=tf.int32)
    self._word_start = tf.constant(word_start, tf.bool)
    self._cls, self._sep, self._pad = (special_ids["cls"], special_ids["sep"],
                                       special_ids["pad"])
    self.settings = settings

  def _context_pieces(self, context: tf.Tensor):
    """Ids and byte spans of the context pieces, leading whitespace left out."""
    ids, starts, ends = self._tokenizer.tokenize_with_offsets(context)
    rows = ids.value_rowids()
    begin, end = starts.flat_values, ends.flat_values
    surface = tf.strings.substr(tf.gather(context, rows), begin, end - begin,
                                unit="BYTE")
    lead = tf.cast(tf.strings.length(surface) - tf.strings.length(
        tf.strings.regex_replace(surface, _LEADING_WHITESPACE, "")), tf.int64)
    lead = tf.where(tf.gather(self._word_start, ids.flat_values), lead, 0)
    begin = tf.minimum(begin + lead, end)
    return ids, ids.with_flat_values(begin), ids.with_flat_values(end)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string),
                                tf.TensorSpec([None], tf.string)])
  def windows(self, question: tf.Tensor,
              context: tf.Tensor) -> dict[str, tf.Tensor]:
    """The doc-stride windows of each (question, context), as model inputs
    plus each token's context byte span and max-context flag.

    Rows are in example order, an example's windows in order: the rows
    `squad_features.build_features` makes.
    """
    s = self.settings
    seq = s.max_seq_length
    question_ids = self._tokenizer.tokenize(question)[:, :s.max_query_length]
    context_ids, byte_starts, byte_ends = self._context_pieces(context)
    q_len = question_ids.row_lengths()  # int64 [B]
    n = context_ids.row_lengths()
    window_len = seq - q_len - 3
    num_windows = 1 + tf.maximum(
        (n - window_len + s.doc_stride - 1) // s.doc_stride, 0)
    example = tf.repeat(tf.range(tf.size(n, tf.int64)), num_windows)
    window = tf.ragged.range(num_windows).flat_values
    first = window * s.doc_stride  # [F]
    q, w_len = tf.gather(q_len, example), tf.gather(window_len, example)
    c = tf.minimum(w_len, tf.gather(n, example) - first)
    p = tf.range(seq, dtype=tf.int64)[None, :]  # [1, S]
    q, c, first_col = q[:, None], c[:, None], first[:, None]
    is_context = (p >= q + 2) & (p < q + 2 + c)
    token = first_col + p - q - 2  # Context token index at context positions.
    word_ids = tf.where(
        p == 0, self._cls, tf.where(
            (p >= 1) & (p <= q),
            _gather_rows(_dense(question_ids, self._pad), example, p - 1),
            tf.where(p == q + 1, self._sep, tf.where(
                is_context,
                _gather_rows(_dense(context_ids, self._pad), example, token),
                tf.where(p == q + 2 + c, self._sep, self._pad)))))
    inside = p < q + c + 3
    best_window = self._max_context_windows(n, window_len, num_windows)
    return {
        "input_word_ids": word_ids,
        "input_mask": tf.cast(inside, tf.int32),
        "input_type_ids": tf.cast(inside & (p >= q + 2), tf.int32),
        "token_byte_starts": tf.where(
            is_context, _gather_rows(_dense(byte_starts, -1), example, token),
            -1),
        "token_byte_ends": tf.where(
            is_context, _gather_rows(_dense(byte_ends, -1), example, token),
            -1),
        "token_is_max_context": is_context & tf.equal(
            _gather_rows(best_window, example, token), window[:, None]),
        "example_index": example,
        "window_index": window,
    }

  def _max_context_windows(self, n: tf.Tensor, window_len: tf.Tensor,
                           num_windows: tf.Tensor) -> tf.Tensor:
    """int64 [B, tokens]: each context token's max-context window.

    The score of `squad_features.max_context_mask` in the same float64
    arithmetic, so ties (broken towards the earlier window) are the same.
    """
    w = tf.range(tf.reduce_max(num_windows), dtype=tf.int64)[None, :, None]
    first = w * self.settings.doc_stride  # [1, W, 1]
    length = tf.minimum(window_len[:, None, None], n[:, None, None] - first)
    t = tf.range(tf.maximum(tf.reduce_max(n), 1), dtype=tf.int64)[None, None]
    inside = ((t >= first) & (t < first + length) &
              (w < num_windows[:, None, None]))
    score = tf.cast(tf.minimum(t - first, first + length - 1 - t),
                    tf.float64) + 0.01 * tf.cast(length, tf.float64)
    score = tf.where(inside, score, -np.inf)
    best = tf.reduce_max(score, axis=1, keepdims=True)
    big = tf.cast(tf.shape(w)[1], tf.int64)
    return tf.reduce_min(tf.where(inside & (score == best), w, big), axis=1)

  def _best_spans(self, windows: dict[str, tf.Tensor], start_logits: tf.Tensor,
                  end_logits: tf.Tensor, batch_size: tf.Tensor
                  ) -> tuple[tf.Tensor, ...]:
    """Per example: the best span's window row, start, end and score (from
    `squad_postprocess`'s candidates; -inf when no span is possible), and
    the null score (the lowest [CLS] start + end over its windows)."""
    s = self.settings
    start_logits = tf.cast(start_logits, tf.float64)
    end_logits = tf.cast(end_logits, tf.float64)
    starts, ends = windows["token_byte_starts"], windows["token_byte_ends"]
    in_context = (starts >= 0) & (ends > starts)
    start_scores = tf.where(in_context & windows["token_is_max_context"],
                            start_logits, -np.inf)
    end_scores = tf.where(in_context, end_logits, -np.inf)
    k = min(s.n_best_size, s.max_seq_length)
    top_start_scores, top_start = tf.math.top_k(start_scores, k)
    top_end_scores, top_end = tf.math.top_k(end_scores, k)
    i, j = top_start[:, :, None], top_end[:, None, :]
    valid = (tf.math.is_finite(top_start_scores)[:, :, None] &
             tf.math.is_finite(top_end_scores)[:, None, :] & (j >= i) &
             (j - i < s.max_answer_length))
    pair_scores = tf.where(
        valid, top_start_scores[:, :, None] + top_end_scores[:, None, :],
        -np.inf)
    flat = tf.reshape(pair_scores, [-1, k * k])
    best_pair = tf.argmax(flat, axis=1, output_type=tf.int32)
    row_score = tf.reduce_max(flat, axis=1)
    row_start = tf.gather(top_start, best_pair // k, batch_dims=1)
    row_end = tf.gather(top_end, best_pair % k, batch_dims=1)
    example = windows["example_index"]
    score = tf.math.unsorted_segment_max(row_score, example, batch_size)
    rows = tf.range(tf.size(example, tf.int64))
    is_best = tf.equal(row_score, tf.gather(score, example))
    row = tf.math.unsorted_segment_min(
        tf.where(is_best, rows, tf.size(example, tf.int64)), example,
        batch_size)
    row = tf.minimum(row, tf.maximum(tf.size(example, tf.int64) - 1, 0))
    null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0],
                                        example, batch_size)
    return (row, tf.gather(row_start, row), tf.gather(row_end, row), score,
            null)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "question"),
                                tf.TensorSpec([None], tf.string, "context")])
  def serve(self, question: tf.Tensor,
            context: tf.Tensor) -> dict[str, tf.Tensor]:
    windows = self.windows(question, context)
    inputs = {name: windows[name] for name in
              ("input_word_ids", "input_mask", "input_type_ids")}
    outputs = self.model(inputs, training=False)
    batch_size = tf.size(question, tf.int64)
    row, start, end, score, null = self._best_spans(
        windows, outputs["start_logits"], outputs["end_logits"], batch_size)
    finish = tf.gather(tf.gather(windows["token_byte_ends"], row),
                       end[:, None], batch_dims=1)[:, 0]
    begin = tf.gather(tf.gather(windows["token_byte_starts"], row),
                      start[:, None], batch_dims=1)[:, 0]
    found = tf.math.is_finite(score)
    answer = tf.where(
        found, tf.strings.substr(context, tf.maximum(begin, 0),
                                 tf.maximum(finish - begin, 0), unit="BYTE"),
        "")
    if self.settings.version_2_with_negative:
      is_null = ~found | (null - score >
                          self.settings.null_score_diff_threshold)
      answer = tf.where(is_null, "", answer)
      score = tf.where(is_null, null, score)
    return {"answer": answer, "score": tf.cast(score, tf.float32)}


def export_span_labeler(model: tf_keras.Model, vocab: Vocab,
                        settings: AnswerSettings, export_dir: str) -> str:
  """Writes the SavedModel atomically (replacing an older export); returns
  its path."""
  with tf.io.gfile.GFile(vocab.path, "rb") as f:
    module = SpanModule(model, f.read(), vocab.word_start,
                        vocab.special.as_dict(), settings)
  recorded = {**dataclasses.asdict(settings),
              "special_ids": vocab.special.as_dict(),
              "sentencepiece_sha256": vocab.sha256,
              "signature": {"inputs": ["question", "context"],
                            "outputs": ["answer", "score"]}}
  export.write_saved_model(
      export_dir, module, {"serving_default": module.serve},
      {SETTINGS_FILE: json.dumps(recorded, indent=2, sort_keys=True) + "\n"})
  return export_dir
