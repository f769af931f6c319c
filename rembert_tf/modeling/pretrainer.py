"""The pre-training model: the encoder plus the masked-LM head."""

from typing import Optional

import tensorflow as tf
import tf_keras

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.mlm_head import RemBertMaskedLM
from rembert_tf.modeling.serialization import ConfigSerializable


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertPretrainer(ConfigSerializable, tf_keras.Model):
  """Encoder + MLM head, as pre-trained (MLM only: no pooler, no next-sentence).

  Inputs: the encoder's dict plus `masked_lm_positions` [batch, P]. Outputs: the
  encoder's dict plus `mlm_logits` [batch, P, V] (float32). `checkpoint_items`
  names the two parts separately, so fine-tuning restores `encoder` alone and the
  output embedding (the paper's pre-training-only parameters) stays behind.
  Rebuilt from its config (`tf_keras.models.load_model`), a coupled head is
  tied again to the new encoder's word embeddings by the constructor.
  """

  def __init__(self, config: RemBertConfig, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.encoder = RemBertEncoder(config, add_pooling_layer=False,
                                  name="encoder")
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
