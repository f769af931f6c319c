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
  - The windows are `squad_windows.layout_windows`, the function data prep
    calls: the question keeps its first `max_query_length` pieces and the
    context is cut into doc-stride windows, as many as it needs, and all
    windows of the batch go through the model in one call. A context of any
    length is read whole: nothing is truncated.
  - The answer is the first of the candidates `squad_windows.span_candidates`
    ranks, the function post-processing calls, so ties are broken alike: the
    best start + end logit over all windows of a question.
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
from typing import Mapping

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import tf_keras

from rembert_tf.data.sentencepiece_vocab import Vocab
from rembert_tf.tasks import export
from rembert_tf.tasks.squad import windows as squad_windows

SETTINGS_FILE = os.path.join("assets.extra", "squad_settings.json")
# What squad_features strips with lstrip().
_LEADING_WHITESPACE = f"^{export.WHITESPACE}+"


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


def _best_candidates(candidates: Mapping[str, tf.Tensor],
                     batch_size: tf.Tensor) -> dict[str, tf.Tensor]:
  """Each example's first (best) candidate's window, start, end and score;
  score -inf where it has none."""
  num = tf.size(candidates["example"], tf.int64)
  # An example without candidates gets index `num`, which picks `missing`.
  first = tf.minimum(tf.math.unsorted_segment_min(
      tf.range(num), candidates["example"], batch_size), num)

  def pick(name: str, missing: float) -> tf.Tensor:
    values = candidates[name]
    return tf.gather(tf.concat(
        [values, tf.constant([missing], values.dtype)], axis=0), first)

  return {"window": pick("window", 0), "start": pick("start", 0),
          "end": pick("end", 0), "score": pick("score", -np.inf)}


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
    self._special_ids = dict(special_ids)
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
    plus each token's context byte span and max-context flag: the rows
    `squad_features.build_features` makes (both call `layout_windows`)."""
    s = self.settings
    rows = squad_windows.layout_windows(
        self._tokenizer.tokenize(question), *self._context_pieces(context),
        max_seq_length=s.max_seq_length, doc_stride=s.doc_stride,
        max_query_length=s.max_query_length, special_ids=self._special_ids)
    rows["token_byte_starts"] = rows.pop("token_starts")
    rows["token_byte_ends"] = rows.pop("token_ends")
    return rows

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "question"),
                                tf.TensorSpec([None], tf.string, "context")])
  def serve(self, question: tf.Tensor,
            context: tf.Tensor) -> dict[str, tf.Tensor]:
    s = self.settings
    windows = self.windows(question, context)
    inputs = {name: windows[name] for name in
              ("input_word_ids", "input_mask", "input_type_ids")}
    outputs = self.model(inputs, training=False)
    batch_size = tf.size(question, tf.int64)
    best = _best_candidates(squad_windows.span_candidates(
        outputs["start_logits"], outputs["end_logits"],
        windows["token_byte_starts"], windows["token_byte_ends"],
        windows["token_is_max_context"], windows["example_index"],
        n_best_size=s.n_best_size, max_answer_length=s.max_answer_length),
                            batch_size)
    begin = tf.gather_nd(windows["token_byte_starts"], tf.stack(
        [best["window"], tf.cast(best["start"], tf.int64)], axis=1))
    finish = tf.gather_nd(windows["token_byte_ends"], tf.stack(
        [best["window"], tf.cast(best["end"], tf.int64)], axis=1))
    score = best["score"]
    found = tf.math.is_finite(score)
    answer = tf.where(
        found, tf.strings.substr(context, tf.maximum(begin, 0),
                                 tf.maximum(finish - begin, 0), unit="BYTE"),
        "")
    if s.version_2_with_negative:
      null = squad_windows.null_windows(
          outputs["start_logits"], outputs["end_logits"],
          windows["example_index"], batch_size)["score"]
      is_null = ~found | (null - score > s.null_score_diff_threshold)
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
