"""Text preprocessing as a SavedModel with the TF Hub BERT preprocessing interface.

`preprocessor(strings)` returns the packed `input_word_ids`, `input_mask` and
`input_type_ids` (int32 [batch, seq_length]) for one segment;
`preprocessor.tokenize(strings)` gives token ids (RaggedTensor [batch, (tokens)])
and `preprocessor.bert_pack_inputs([tokens_a, tokens_b], seq_length)` packs one
or two segments as `[CLS] a [SEP] b [SEP]`, type ids 0 then 1. SentencePiece
runs inside the graph (tensorflow_text) on the raw text: no lowercasing and no
accent stripping, as in Hugging Face's RemBERT tokenizer. Loading it needs
`import tensorflow_text`.

Packing is `pack_segments`, the one implementation of the rule: data prep
(`create_classifier_data.py`) calls it too, on the sentencepiece library's ids
(`to_ragged`), so offline and in-graph ids are identical. Segments that do not
fit are truncated round-robin (tensorflow_text's RoundRobinTrimmer): each
segment in turn gets one more token until the budget is spent or it has no
more, so the longer one is cut (a tie keeps one more of the first) and every
segment keeps a prefix.
"""

from typing import Optional, Sequence, Union

import numpy as np
import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text

from rembert_tf import file_io
from rembert_tf import tokenizer
from rembert_tf.modeling.config import RemBertConfig


def to_ragged(rows: Sequence[Sequence[int]]) -> tf.RaggedTensor:
  """int32 [len(rows), (n)] of one int sequence (list or array) per text,
  e.g. the sentencepiece library's ids, shaped as `Preprocessor.tokenize`
  gives them; quick for many rows, unlike tf.ragged.constant."""
  values = np.concatenate([np.zeros([0], np.int32)] +
                          [np.asarray(r, np.int32) for r in rows])
  return tf.RaggedTensor.from_row_lengths(
      values, np.array([len(r) for r in rows], np.int64))


def pack_segments(segments: Sequence[tf.RaggedTensor],
                  seq_length: Union[int, tf.Tensor], cls_id: int, sep_id: int,
                  pad_id: int) -> dict[str, tf.Tensor]:
  """`[CLS] a [SEP] (b [SEP])` of one or two segments of token ids
  ([batch, (tokens)] each), truncated round-robin to fit and padded to
  `seq_length`: int32 `input_word_ids`, `input_mask`, `input_type_ids`."""
  trimmed = tf_text.RoundRobinTrimmer(
      max_seq_length=seq_length - len(segments) - 1).trim(segments)
  ids, type_ids = tf_text.combine_segments(
      trimmed, start_of_sequence_id=cls_id, end_of_segment_id=sep_id)
  word_ids, mask = tf_text.pad_model_inputs(
      ids, max_seq_length=seq_length, pad_value=pad_id)
  type_ids, _ = tf_text.pad_model_inputs(type_ids, max_seq_length=seq_length)
  return {"input_word_ids": tf.cast(word_ids, tf.int32),
          "input_mask": tf.cast(mask, tf.int32),
          "input_type_ids": tf.cast(type_ids, tf.int32)}


class Preprocessor(tf.Module):
  """Tokenize and pack, with the special ids of the SentencePiece model."""

  def __init__(self, sp_model: bytes, seq_length: int, cls_id: int,
               sep_id: int, pad_id: int):
    super().__init__()
    self._tokenizer = tf_text.SentencepieceTokenizer(model=sp_model,
                                                     out_type=tf.int32)
    self._seq_length = seq_length
    self._cls_id, self._sep_id, self._pad_id = cls_id, sep_id, pad_id

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
    return self._tokenizer.tokenize(text)

  @tf.function
  def bert_pack_inputs(self, segments: list[tf.RaggedTensor],
                       seq_length: tf.Tensor) -> dict[str, tf.Tensor]:
    segments = [s.merge_dims(1, -1) if s.ragged_rank > 1 else s
                for s in segments]
    return pack_segments(segments, seq_length, self._cls_id, self._sep_id,
                         self._pad_id)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def __call__(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
    return self.bert_pack_inputs([self.tokenize(text)],
                                 tf.constant(self._seq_length))


def export_preprocessing(sp_model_path: str, output_dir: str,
                         seq_length: int = 128,
                         config: Optional[RemBertConfig] = None,
                         overwrite: bool = False) -> None:
  """Exports the preprocessing SavedModel for a SentencePiece model file.

  Args:
    sp_model_path: the `sentencepiece.model` of the encoder's vocabulary.
    output_dir: where the SavedModel goes (written atomically).
    seq_length: the default packed length of `preprocessor(strings)`.
    config: if given, the vocabulary must be its own (special ids and size,
      `tokenizer.check_vocabulary`).
  """
  with open(sp_model_path, "rb") as f:
    sp_model = f.read()
  processor = spm.SentencePieceProcessor(model_proto=sp_model)
  ids = (tokenizer.special_ids(processor) if config is None else
         tokenizer.check_vocabulary(processor, sp_model_path, config))
  module = Preprocessor(sp_model, seq_length, ids["cls"], ids["sep"],
                        ids["pad"])
  ragged = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)
  length = tf.TensorSpec([], tf.int32)
  for num_segments in (1, 2):
    module.bert_pack_inputs.get_concrete_function([ragged] * num_segments, length)
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    tf.saved_model.save(module, tmp)
