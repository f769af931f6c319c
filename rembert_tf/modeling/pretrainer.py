"""The pre-training model: the encoder plus the masked-LM head."""

from typing import Optional

import tensorflow as tf
import tf_keras

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.mlm_head import RemBertMaskedLM


class RemBertPretrainer(tf_keras.Model):
  """Encoder + MLM head, as pre-trained (MLM only: no pooler, no next-sentence).

  Inputs: the encoder's dict plus `masked_lm_positions` [batch, P]. Outputs: the
  encoder's dict plus `mlm_logits` [batch, P, V] (float32). `checkpoint_items`
  names the two parts separately, so fine-tuning restores `encoder` alone and the
  output embedding (the paper's pre-training-only parameters) stays behind.
  """

  def __init__(self, config: RemBertConfig,
               num_layers_to_keep: Optional[int] = None, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.encoder = RemBertEncoder(config, num_layers_to_keep=num_layers_to_keep,
                                  add_pooling_layer=False, name="encoder")
    self.masked_lm = RemBertMaskedLM(
        config,
        input_embedding_layer=self.encoder.embeddings.word_embeddings,
        name="masked_lm")

  @property
  def checkpoint_items(self) -> dict[str, tf_keras.layers.Layer]:
    return {"encoder": self.encoder, "masked_lm": self.masked_lm}

  def call(self, inputs: dict[str, tf.Tensor],
           training: Optional[bool] = None) -> dict[str, object]:
    outputs = dict(self.encoder(inputs, training=training))
    outputs["mlm_logits"] = self.masked_lm(outputs["sequence_output"],
                                           inputs["masked_lm_positions"])
    return outputs

  def dummy_inputs(self, batch_size: int = 1,
                   seq_length: int = 2) -> dict[str, tf.Tensor]:
    """Inputs that build every variable (used before restoring checkpoints)."""
    inputs = self.encoder.dummy_inputs(batch_size, seq_length)
    inputs["masked_lm_positions"] = tf.zeros([batch_size, 1], tf.int32)
    return inputs


def unique_variables(variables: list[tf.Variable]) -> list[tf.Variable]:
  """Drops repeats (a coupled head shares the input table with the encoder)."""
  seen, unique = set(), []
  for variable in variables:
    if variable.ref() not in seen:
      seen.add(variable.ref())
      unique.append(variable)
  return unique


def count_variables(variables: list[tf.Variable]) -> int:
  """Number of scalars in `variables`, each shared variable counted once."""
  return sum(int(v.shape.num_elements()) for v in unique_variables(variables))
