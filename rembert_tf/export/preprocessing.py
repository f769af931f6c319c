"""Text preprocessing as a SavedModel with the TF Hub BERT preprocessing interface.

`preprocessor(strings)` returns the packed `input_word_ids`, `input_mask` and
`input_type_ids` (int32 [batch, seq_length]) for one segment;
`preprocessor.tokenize(strings)` gives token ids (RaggedTensor [batch, (tokens)])
and `preprocessor.bert_pack_inputs([tokens_a, tokens_b], seq_length)` packs one
or two segments as `[CLS] a [SEP] b [SEP]` (round-robin truncation, type ids 0
then 1). SentencePiece runs inside the graph (tensorflow_text) on the raw text:
no lowercasing and no accent stripping, as in Hugging Face's RemBERT tokenizer.
Loading it needs `import tensorflow_text`.
"""

from typing import Optional

import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text

from rembert_tf import file_io
from rembert_tf import pretrained
from rembert_tf.modeling.config import RemBertConfig


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
    trimmed = tf_text.RoundRobinTrimmer(
        max_seq_length=seq_length - len(segments) - 1).trim(segments)
    ids, type_ids = tf_text.combine_segments(
        trimmed, start_of_sequence_id=self._cls_id,
        end_of_segment_id=self._sep_id)
    word_ids, mask = tf_text.pad_model_inputs(
        ids, max_seq_length=seq_length, pad_value=self._pad_id)
    type_ids, _ = tf_text.pad_model_inputs(type_ids, max_seq_length=seq_length)
    return {"input_word_ids": tf.cast(word_ids, tf.int32),
            "input_mask": tf.cast(mask, tf.int32),
            "input_type_ids": tf.cast(type_ids, tf.int32)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def __call__(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
    return self.bert_pack_inputs([self.tokenize(text)],
                                 tf.constant(self._seq_length))


def _special_ids(processor: spm.SentencePieceProcessor) -> tuple[int, int, int]:
  cls_id, sep_id = processor.piece_to_id("[CLS]"), processor.piece_to_id("[SEP]")
  unk = processor.unk_id()
  if unk in (cls_id, sep_id):
    raise ValueError("the SentencePiece model has no [CLS] or [SEP] piece")
  pad_id = processor.pad_id()
  if pad_id < 0:
    pad_id = processor.piece_to_id("[PAD]")
  if pad_id == unk:
    raise ValueError("the SentencePiece model has no padding piece")
  return cls_id, sep_id, pad_id


def export_preprocessing(sp_model_path: str, output_dir: str,
                         seq_length: int = 128,
                         config: Optional[RemBertConfig] = None,
                         overwrite: bool = False) -> None:
  """Exports the preprocessing SavedModel for a SentencePiece model file.

  Args:
    sp_model_path: the `sentencepiece.model` of the encoder's vocabulary.
    output_dir: where the SavedModel goes (written atomically).
    seq_length: the default packed length of `preprocessor(strings)`.
    config: if given, its pad/bos/eos ids must be the model's [PAD]/[CLS]/[SEP].
  """
  with open(sp_model_path, "rb") as f:
    sp_model = f.read()
  processor = spm.SentencePieceProcessor(model_proto=sp_model)
  cls_id, sep_id, pad_id = _special_ids(processor)
  if config is not None and (config.bos_token_id, config.eos_token_id,
                             config.pad_token_id) != (cls_id, sep_id, pad_id):
    raise ValueError(
        f"{sp_model_path}: [CLS]/[SEP]/pad ids are {cls_id}/{sep_id}/{pad_id}, "
        f"the config says {config.bos_token_id}/{config.eos_token_id}/"
        f"{config.pad_token_id}; this vocabulary is not the model's")
  module = Preprocessor(sp_model, seq_length, cls_id, sep_id, pad_id)
  ragged = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)
  length = tf.TensorSpec([], tf.int32)
  for num_segments in (1, 2):
    module.bert_pack_inputs.get_concrete_function([ragged] * num_segments, length)
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    tf.saved_model.save(module, tmp)
