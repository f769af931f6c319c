"""The fine-tuned classifier as a SavedModel that takes raw text.

Signatures:
  serving_default: `text_a`, `text_b` (string [batch]) -> `probabilities`
    (float32 [batch, num_labels]). SentencePiece tokenization and packing run
    inside the graph, packed by `preprocessing.pack_segments` (round-robin
    truncation), the packer `create_classifier_data.py` uses too, so it gives
    the ids that data prep writes.
  serve_token_ids: `input_word_ids`, `input_mask`, `input_type_ids` (int32
    [batch, seq]) -> `logits`, for callers that tokenize themselves.

Loading needs `import tensorflow_text` first (it registers the SentencePiece
op): TensorFlow loads every function of a SavedModel, so a server without the
tensorflow-text ops cannot load this one even to use `serve_token_ids`. A
second SavedModel, `<export_dir>_token_ids`, holds only the token-ids signature
(also as `serving_default`) and loads anywhere. The label names, in output
order, are in `assets.extra/labels.txt` of both.
"""

import os
from typing import Sequence

import tensorflow as tf
import tf_keras

from rembert_tf.export import preprocessing
from rembert_tf.tasks import export

LABELS_FILE = os.path.join("assets.extra", "labels.txt")


class _ClassifierModule(export.TokenIdsModule):
  """The model plus its in-graph preprocessing."""

  def __init__(self, model: tf_keras.Model, sp_model: bytes, seq_length: int,
               special_ids: dict[str, int]):
    super().__init__(model)
    self.preprocessor = preprocessing.Preprocessor(
        sp_model, seq_length, special_ids["cls"], special_ids["sep"],
        special_ids["pad"])
    self._seq_length = seq_length

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text_a"),
                                tf.TensorSpec([None], tf.string, "text_b")])
  def serve_text(self, text_a: tf.Tensor,
                 text_b: tf.Tensor) -> dict[str, tf.Tensor]:
    segments = [self.preprocessor.tokenize(text_a),
                self.preprocessor.tokenize(text_b)]
    inputs = self.preprocessor.bert_pack_inputs(
        segments, tf.constant(self._seq_length))
    logits = self.model(inputs, training=False)["logits"]
    return {"probabilities": tf.nn.softmax(logits, axis=-1)}


def export_classifier(model: tf_keras.Model, sp_model_file: str,
                      seq_length: int, special_ids: dict[str, int],
                      labels: Sequence[str], export_dir: str) -> dict[str, str]:
  """Writes both SavedModels atomically (replacing older exports).

  Returns their paths: `text` (both signatures, `export_dir`) and `token_ids`
  (`export_dir` + "_token_ids", the token-ids signature alone).
  """
  with tf.io.gfile.GFile(sp_model_file, "rb") as f:
    text_module = _ClassifierModule(model, f.read(), seq_length, special_ids)
  return export.write_text_and_token_ids(
      text_module, text_module.serve_text, export_dir,
      {LABELS_FILE: "\n".join(labels) + "\n"})
