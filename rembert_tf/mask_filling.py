"""The top-k pieces the MLM head predicts for one [MASK]: a pretrainer at work.

    model = rembert_tf.from_pretrained(folder, "pretrainer")
    tokenizer = rembert_tf.load_tokenizer(folder)
    rembert_tf.fill_mask(model, tokenizer, "Paris is the [MASK] of France.")

Predictions are single SentencePiece pieces, the unit the MLM objective
predicts (a word of several pieces needs one [MASK] per piece, and this
function takes one). The text around the mask is encoded as two segments, so
the mask stands between pieces exactly where it is written.
"""

import dataclasses

import sentencepiece as spm
import tensorflow as tf

from rembert_tf import tokenizer as tokenizer_lib
from rembert_tf.modeling.pretrainer import RemBertPretrainer

MASK = "[MASK]"


@dataclasses.dataclass(frozen=True)
class Prediction:
  """One candidate for the masked piece."""
  token: str  # The SentencePiece piece ("▁" starts a word).
  token_id: int
  score: float  # Its probability under the MLM head.
  sequence: str  # The text with the mask replaced by it.


def fill_mask(model: RemBertPretrainer, tokenizer: spm.SentencePieceProcessor,
              text: str, top_k: int = 5) -> list[Prediction]:
  """The `top_k` most probable pieces for the one [MASK] in `text`, best first.

  Raises:
    ValueError: not exactly one [MASK], a vocabulary that is not the model's,
      or a text longer than the model's positions.
  """
  left, *right = text.split(MASK)
  if len(right) != 1:
    raise ValueError(f"the text must hold exactly one {MASK}, it has "
                     f"{len(right)}: {text!r}")
  config = model.config
  ids = tokenizer_lib.check_vocabulary(tokenizer, "the tokenizer", config,
                                       "the model's config")
  mask_id = tokenizer.piece_to_id(MASK)
  if mask_id == tokenizer.unk_id():
    raise ValueError(f"the tokenizer has no {MASK} piece")
  left_ids, right_ids = tokenizer.encode(left), tokenizer.encode(right[0])
  word_ids = [ids["cls"], *left_ids, mask_id, *right_ids, ids["sep"]]
  if len(word_ids) > config.max_position_embeddings:
    raise ValueError(f"{len(word_ids)} pieces with [CLS] and [SEP], but the "
                     f"model has {config.max_position_embeddings} positions")
  inputs = {"input_word_ids": tf.constant([word_ids], tf.int32),
            "input_mask": tf.ones([1, len(word_ids)], tf.int32),
            "input_type_ids": tf.zeros([1, len(word_ids)], tf.int32),
            "masked_lm_positions": tf.constant([[1 + len(left_ids)]], tf.int32)}
  logits = model(inputs, training=False)["mlm_logits"][0, 0]
  top = tf.math.top_k(tf.nn.softmax(logits), k=top_k)
  scores, token_ids = top.values.numpy().tolist(), top.indices.numpy().tolist()
  return [Prediction(token=tokenizer.id_to_piece(i), token_id=i, score=score,
                     sequence=tokenizer.decode(left_ids + [i] + right_ids))
          for score, i in zip(scores, token_ids)]
