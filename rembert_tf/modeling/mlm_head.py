"""The decoupled output embedding and the masked-LM head.

This is the second of the paper's two ideas (Chung et al. 2021, sections 4-5): the
output embedding is decoupled from the input one, so it can be much wider (RemBERT:
Eout = 1664 against Ein = 256). It exists only during pre-training and is discarded
before fine-tuning, yet the capacity it adds makes the Transformer's upper layers
more transferable. The head computes, at the masked positions only:

    logits = LayerNorm(act(h W + b)) E_out^T + bias,   W: [H, Eout], E_out: [V, Eout]

Gathering the masked positions first means vocabulary logits are never computed for
the ~85% of tokens that carry no label: for RemBERT's 250k x 1664 table that is
the difference between [B, P, V] and [B, S, V] activations.
"""

from typing import Any, Optional

import tensorflow as tf
import tf_keras

from rembert_tf.modeling.activations import get_activation
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.embeddings import truncated_normal
from rembert_tf.modeling.serialization import ConfigSerializable


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertMaskedLM(ConfigSerializable, tf_keras.layers.Layer):
  """Scores masked positions against the output embedding.

  Decoupled (the default) owns `output_embedding` [V, Eout]. Coupled mode
  (`config.tie_word_embeddings`, the mBERT baseline) scores against the input
  word embedding table instead, which must then be passed as
  `input_embedding_layer` (and needs Eout == Ein, checked by the config).
  """

  def __init__(self,
               config: RemBertConfig,
               input_embedding_layer: Optional[tf_keras.layers.Layer] = None,
               **kwargs):
    super().__init__(**kwargs)
    if config.tie_word_embeddings and input_embedding_layer is None:
      raise ValueError("tie_word_embeddings=true needs the encoder's word "
                       "embedding layer as input_embedding_layer")
    self.config = config
    # The coupled table belongs to the encoder. It is reached through a function,
    # not an attribute, so that it is not also tracked (and then checkpointed)
    # under this head's name.
    self._tied_table = None
    if config.tie_word_embeddings:
      self._tied_table = lambda: input_embedding_layer.embeddings
    self.dense = tf_keras.layers.Dense(
        config.output_embedding_size,
        activation=get_activation(config.hidden_act),
        kernel_initializer=truncated_normal(config),
        name="transform/dense")
    self.layer_norm = tf_keras.layers.LayerNormalization(
        axis=-1, epsilon=config.layer_norm_eps, dtype=tf.float32,
        name="transform/layer_norm")

  def get_config(self) -> dict[str, Any]:
    if self._tied_table is not None:
      # Keras's protocol for "no config": SavedModel saving tolerates this
      # error (and only this one) from a sublayer of the saved pretrainer.
      raise NotImplementedError(
          "a coupled RemBertMaskedLM scores against the encoder's word "
          "embedding layer, which its config cannot hold; save the "
          "RemBertPretrainer, which rebuilds the tie")
    return super().get_config()

  def build(self, input_shape):
    if self._tied_table is None:
      self.output_embedding = self.add_weight(
          "output_embedding",
          shape=[self.config.vocab_size, self.config.output_embedding_size],
          initializer=truncated_normal(self.config))
    self.output_bias = self.add_weight(
        "output_bias", shape=[self.config.vocab_size], initializer="zeros")
    super().build(input_shape)

  @property
  def scoring_table(self) -> tf.Variable:
    """The [V, Eout] table logits are computed against."""
    if self._tied_table is not None:
      return self._tied_table()
    return self.output_embedding

  def call(self, sequence_output: tf.Tensor,
           masked_positions: tf.Tensor) -> tf.Tensor:
    """Returns float32 logits [batch, num_predictions, V].

    Args:
      sequence_output: [batch, seq, H] encoder output.
      masked_positions: int32 [batch, num_predictions] positions to score.
    """
    gathered = tf.gather(sequence_output, masked_positions, batch_dims=1)
    hidden = self.layer_norm(self.dense(gathered))
    batch, num_predictions = tf.unstack(tf.shape(masked_positions))
    hidden = tf.reshape(hidden, [-1, self.config.output_embedding_size])
    table = tf.cast(self.scoring_table, self.compute_dtype)
    logits = tf.matmul(tf.cast(hidden, self.compute_dtype), table,
                       transpose_b=True)
    logits = tf.nn.bias_add(tf.cast(logits, tf.float32),
                            tf.cast(self.output_bias, tf.float32))
    return tf.reshape(logits, [batch, num_predictions, self.config.vocab_size])
