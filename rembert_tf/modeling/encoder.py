"""The RemBERT encoder: rebalanced embeddings, L post-LayerNorm layers, a pooler."""

from typing import Any, Optional

import tensorflow as tf
import tf_keras
from official.nlp.modeling import layers as tfm_layers

from rembert_tf.modeling import matmul_layers
from rembert_tf.modeling.activations import get_activation
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.embeddings import RemBertEmbeddings
from rembert_tf.modeling.embeddings import truncated_normal
from rembert_tf.modeling.serialization import ConfigSerializable


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class TransformerBlock(tfm_layers.TransformerEncoderBlock):
  """tf-models-official's post-LN block, computed by matmuls, with a float32
  attention softmax.

  Its LayerNorms and (under mixed_bfloat16) its activation are float32
  already. The attention layer and the two FFN projections are rebuilt from
  their own configs (`matmul_layers`) before they have any variables, so names
  and checkpoints are those of the stock block.
  """

  def build(self, input_shape):
    super().build(input_shape)
    # The projections are made here from the block's input shape, not on the
    # first call: `load_model` builds a revived block and then restores the
    # weights into the sublayers that exist at that point.
    shape = (input_shape if isinstance(input_shape, tf.TensorShape)
             else tf.TensorShape(input_shape[0]))
    config = self._attention_layer.get_config()
    config.update(query_shape=shape, key_shape=shape, value_shape=shape)
    self._attention_layer = matmul_layers.RemBertAttention.from_config(config)
    # The activation inside the dense layer, on its 2-D product, where oneDNN
    # fuses it with the matmul; under mixed_bfloat16 it then runs in bfloat16
    # as in PyTorch's autocast (tfm's block keeps a float32 layer for it, and
    # its casts took a fifth of a bfloat16 inference step).
    intermediate = self._intermediate_dense.get_config()
    intermediate["activation"] = tf_keras.activations.serialize(
        tf_keras.activations.get(self._inner_activation))
    self._intermediate_activation_layer = tf_keras.layers.Activation(
        "linear", dtype=self._intermediate_dense.dtype_policy)
    self._intermediate_dense = matmul_layers.MatmulEinsumDense.from_config(
        intermediate)
    self._output_dense = matmul_layers.as_matmul_dense(self._output_dense)

  def get_config(self) -> dict[str, Any]:
    # The stock config holds the activation function itself, which JSON would
    # store by bare name ("gelu_exact"); its registered name deserializes.
    return {**super().get_config(),
            "inner_activation": tf_keras.activations.serialize(
                tf_keras.activations.get(self._inner_activation))}


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertEncoder(ConfigSerializable, tf_keras.layers.Layer):
  """Maps packed token ids to contextual representations.

  Inputs are the TF Hub BERT dict: `input_word_ids`, `input_mask` and (optional)
  `input_type_ids`, each int32 [batch, seq]. Outputs:
    sequence_output: [batch, seq, H], the last kept layer.
    pooled_output: [batch, H], dense + tanh on the first token ([CLS]); only when
      built with `add_pooling_layer=True`.
    encoder_outputs: list of every kept layer's output, [batch, seq, H] each (for
      the paper's probing and per-layer translation analyses).
    embedding_output: [batch, seq, H], the projected embeddings fed to layer 0.

  It builds the config's `num_hidden_layers` layers. To fine-tune the bottom k
  layers of a deeper model (paper section 6.2), build it on
  `config.for_finetuning(k)`: a checkpoint of the full depth restores into it,
  the upper layers being left behind (see `checkpoints.restore`).

  `recompute_layers` (set by the trainer for `--recompute_layers`, not part of
  the config) keeps only each layer's input for the backward pass, which runs
  the layer's forward pass again: activation memory drops from every layer's
  intermediates to one layer's, for about a third more compute. The layers'
  dropout must then be 0, as the recomputation would draw new masks.
  """

  def __init__(self,
               config: RemBertConfig,
               add_pooling_layer: bool = True,
               **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.num_layers = config.num_hidden_layers
    self.embeddings = RemBertEmbeddings(config, name="embeddings")
    self.attention_mask = tfm_layers.SelfAttentionMask()
    self.transformer_layers = [
        TransformerBlock(
            num_attention_heads=config.num_attention_heads,
            inner_dim=config.intermediate_size,
            inner_activation=get_activation(config.hidden_act),
            output_dropout=config.hidden_dropout_prob,
            attention_dropout=config.attention_probs_dropout_prob,
            norm_first=False,
            norm_epsilon=config.layer_norm_eps,
            kernel_initializer=truncated_normal(config),
            name=f"transformer/layer_{i}")
        for i in range(self.num_layers)
    ]
    self.recompute_layers = False
    self.pooler: Optional[tf_keras.layers.Dense] = None
    if add_pooling_layer:
      self.pooler = tf_keras.layers.Dense(
          config.hidden_size, activation="tanh",
          kernel_initializer=truncated_normal(config),
          name="pooler_transform")

  def extra_config(self) -> dict[str, Any]:
    return {"add_pooling_layer": self.pooler is not None}

  def call(self, inputs: dict[str, tf.Tensor],
           training: Optional[bool] = None) -> dict[str, object]:
    word_ids = inputs["input_word_ids"]
    mask = inputs["input_mask"]
    type_ids = inputs.get("input_type_ids")
    if type_ids is None:
      type_ids = tf.zeros_like(word_ids)
    embeddings = self.embeddings(word_ids, type_ids, training=training)
    attention_mask = self.attention_mask(embeddings, mask)
    hidden = embeddings
    layer_outputs = []
    for layer in self.transformer_layers:
      call = lambda h, layer=layer: layer([h, attention_mask],
                                          training=training)
      if self.recompute_layers:
        call = tf.recompute_grad(call)
      hidden = call(hidden)
      layer_outputs.append(hidden)
    outputs = {
        "sequence_output": hidden,
        "encoder_outputs": layer_outputs,
        "embedding_output": embeddings,
    }
    if self.pooler is not None:
      outputs["pooled_output"] = self.pooler(hidden[:, 0, :])
    return outputs

  def dummy_inputs(self, batch_size: int = 1,
                   seq_length: int = 2) -> dict[str, tf.Tensor]:
    """Inputs that build every variable (used before restoring checkpoints)."""
    ids = tf.zeros([batch_size, seq_length], tf.int32)
    return {"input_word_ids": ids, "input_mask": tf.ones_like(ids),
            "input_type_ids": ids}
