"""The fine-tuned tagger as a SavedModel that tags raw sentences.

Signatures:
  serving_default: `sentences` (string [batch]) -> per word, padded to the
    batch's most words: `words` and `tags` (string [batch, words], ""
    padding), `word_starts` and `word_ends` (int64 [batch, words], the
    word's characters [start, end) in its sentence, -1 padding) and
    `num_words` (int64 [batch]). Inside the graph, a sentence's words are
    what Python's `sentence.split()` gives: the runs between whitespace
    (str.isspace(): Unicode spaces, tabs, line breaks; a zero-width space is
    no whitespace), so a data set token with a space inside, as some UD
    Vietnamese ones, is two words here. Each word goes to SentencePiece on
    its own and the windows
    and first-piece predictions are `windows.layout_windows` and
    `windows.word_values`, the functions data prep and evaluation call, so a
    sentence whose words are the data's gets the tags evaluation predicts.
    A sentence of any length is read whole, in as many windows as it needs.
  serve_token_ids: `input_word_ids`, `input_mask`, `input_type_ids` (int32
    [batch, seq]) -> `logits` [batch, seq, labels], for callers that make
    the windows themselves.

Loading needs `import tensorflow_text` first (the SentencePiece and
regex-split ops); `<export_dir>_token_ids` holds the token-ids signature alone
and loads anywhere. The label names, in logit order, are in
`assets.extra/labels.txt` of both, the settings in
`assets.extra/tagging_settings.json`.
"""

import json
import os
from typing import Mapping, Sequence

import tensorflow as tf
import tensorflow_text as tf_text
import tf_keras

from rembert_tf.tasks import export
from rembert_tf.tasks import inputs as task_input
from rembert_tf.tasks.tagging import windows

LABELS_FILE = os.path.join("assets.extra", "labels.txt")
SETTINGS_FILE = os.path.join("assets.extra", "tagging_settings.json")


class _TaggerModule(export.TokenIdsModule):
  """The model plus in-graph words, pieces, windows and tags."""

  def __init__(self, model: tf_keras.Model, sp_model: bytes, seq_length: int,
               special_ids: Mapping[str, int], labels: Sequence[str]):
    super().__init__(model)
    self._pieces = tf_text.SentencepieceTokenizer(model=sp_model,
                                                  out_type=tf.int32)
    self._labels = tf.constant(list(labels))
    self._seq_length = seq_length
    self._special_ids = dict(special_ids)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                              "sentences")])
  def serve_text(self, sentences: tf.Tensor) -> dict[str, tf.Tensor]:
    words, byte_starts, _ = tf_text.regex_split_with_offsets(
        sentences, f"{export.WHITESPACE}+")
    pieces = tf.RaggedTensor.from_row_splits(
        self._pieces.tokenize(words.flat_values), words.row_splits)
    rows = windows.layout_windows(pieces, max_seq_length=self._seq_length,
                                  special_ids=self._special_ids)
    logits = self.model({name: rows[name] for name in task_input.INPUT_NAMES},
                        training=False)["logits"]
    tags = windows.word_values(tf.argmax(logits, axis=-1, output_type=tf.int32),
                               rows["word_index"] >= 0)
    byte_starts = byte_starts.flat_values
    before = tf.strings.substr(tf.gather(sentences, words.value_rowids()),
                               tf.zeros_like(byte_starts), byte_starts,
                               unit="BYTE")
    starts = tf.strings.length(before, unit="UTF8_CHAR")
    ends = starts + tf.strings.length(words.flat_values, unit="UTF8_CHAR")
    per_word = {"words": words.flat_values,
                "tags": tf.gather(self._labels, tags),
                "word_starts": tf.cast(starts, tf.int64),
                "word_ends": tf.cast(ends, tf.int64)}
    outputs = {name: words.with_flat_values(values).to_tensor(
        "" if values.dtype == tf.string else -1)
               for name, values in per_word.items()}
    outputs["num_words"] = words.row_lengths()
    return outputs


def export_tagger(model: tf_keras.Model, sp_model_file: str, seq_length: int,
                  special_ids: Mapping[str, int], labels: Sequence[str],
                  export_dir: str) -> dict[str, str]:
  """Writes both SavedModels atomically (replacing older exports).

  Returns their paths: `text` (both signatures, `export_dir`) and `token_ids`
  (`export_dir` + "_token_ids", the token-ids signature alone).
  """
  with tf.io.gfile.GFile(sp_model_file, "rb") as f:
    module = _TaggerModule(model, f.read(), seq_length, special_ids, labels)
  settings = {"max_seq_length": seq_length, "special_ids": dict(special_ids),
              "words": "Python's str.split(): runs between whitespace",
              "signature": {"inputs": ["sentences"],
                            "outputs": ["words", "tags", "word_starts",
                                        "word_ends", "num_words"]}}
  return export.write_text_and_token_ids(
      module, module.serve_text, export_dir,
      {LABELS_FILE: "\n".join(labels) + "\n",
       SETTINGS_FILE: json.dumps(settings, indent=2, sort_keys=True) + "\n"})
