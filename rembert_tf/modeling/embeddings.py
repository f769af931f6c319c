"""The rebalanced input side: a small input embedding (width Ein), projected to H.

This is the first of the paper's two ideas (Chung et al. 2021, sections 4-5): the
input embedding is a lookup table, so shrinking it from H to Ein (RemBERT: 256 for a
250k vocabulary) frees most of the parameters of a multilingual model at a small cost,
and a single linear map Ein -> H restores the Transformer's width. Word, position and
token-type embeddings are all at width Ein, summed, LayerNormed and dropped out before
the projection, exactly as the released checkpoint computes them.
"""

from typing import Optional

import tensorflow as tf
import tf_keras
from official.nlp.modeling import layers as tfm_layers

from rembert_tf.modeling import matmul_layers
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.serialization import ConfigSerializable


def truncated_normal(config: RemBertConfig) -> tf_keras.initializers.Initializer:
  """A new initializer for one weight; a shared instance repeats its values."""
  return tf_keras.initializers.TruncatedNormal(stddev=config.initializer_range)


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertEmbeddings(ConfigSerializable, tf_keras.layers.Layer):
  """Token ids -> [batch, seq, H]: embeddings at width Ein, then Ein -> H.

  The projection exists only when Ein != H (the coupled mBERT baseline has none).
  It is one [batch * seq, Ein] x [Ein, H] matmul (`MatmulEinsumDense`): the
  `...x,xy->...y` einsum form materialises a [batch, seq, Ein, H] tensor for
  its kernel gradient (see bench/).
  """

  def __init__(self, config: RemBertConfig, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.word_embeddings = tfm_layers.OnDeviceEmbedding(
        vocab_size=config.vocab_size,
        embedding_width=config.input_embedding_size,
        initializer=truncated_normal(config),
        name="word_embeddings")
    self.position_embedding = tfm_layers.PositionEmbedding(
        max_length=config.max_position_embeddings,
        initializer=truncated_normal(config),
        name="position_embedding")
    self.type_embeddings = tfm_layers.OnDeviceEmbedding(
        vocab_size=config.type_vocab_size,
        embedding_width=config.input_embedding_size,
        initializer=truncated_normal(config),
        use_one_hot=True,
        name="type_embeddings")
    # LayerNorm statistics stay in float32 under mixed precision.
    self.layer_norm = tf_keras.layers.LayerNormalization(
        axis=-1, epsilon=config.layer_norm_eps, dtype=tf.float32,
        name="layer_norm")
    self.dropout = tf_keras.layers.Dropout(rate=config.hidden_dropout_prob)
    self.projection: Optional[tf_keras.layers.Layer] = None
    if config.input_embedding_size != config.hidden_size:
      self.projection = matmul_layers.MatmulEinsumDense(
          "abc,cd->abd",
          output_shape=(None, config.hidden_size),
          bias_axes="d",
          kernel_initializer=truncated_normal(config),
          name="embedding_projection")

  def call(self, word_ids: tf.Tensor, type_ids: tf.Tensor,
           training: Optional[bool] = None) -> tf.Tensor:
    seq_length = word_ids.shape[1]
    if seq_length is not None and seq_length > self.config.max_position_embeddings:
      raise ValueError(
          f"sequence length {seq_length} exceeds max_position_embeddings "
          f"({self.config.max_position_embeddings}); truncate the inputs to "
          f"{self.config.max_position_embeddings} tokens (max_seq_length)")
    words = self.word_embeddings(word_ids)
    embeddings = (words + self.position_embedding(words)
                  + self.type_embeddings(type_ids))
    embeddings = self.dropout(self.layer_norm(embeddings), training=training)
    if self.projection is not None:
      embeddings = self.projection(embeddings)
    return embeddings
