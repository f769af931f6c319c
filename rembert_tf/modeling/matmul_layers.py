"""The encoder's projections and attention as plain 2-D and batched matmuls.

Same variables, names and numbers as Keras' `EinsumDense` and
`MultiHeadAttention`, computed with kernels that CPUs run faster. Measured on
a 2-core Xeon with oneDNN (README, "Speed on CPUs"): the FFN's `abc,cd->abd`
einsum ran at 155 GFLOP/s where the same product as one [B*S, H] x [H, F]
matmul ran at 287, and the attention scores' einsum with its implicit
transposes at 56 against 105 for a batched matmul on [B, N, S, D]. The
gradients are plain matmuls too.
"""

import math
import re
from typing import Optional

import tensorflow as tf
import tf_keras


def _matmul_plan(equation: str) -> Optional[tuple[int, int]]:
  """(contracted axes, kept input axes) when `equation` is one 2-D matmul.

  That is the case when the input is its kept axes followed by the contracted
  ones, the kernel is the contracted axes (same order) followed by its free
  ones, and the output is the kept axes followed by the kernel's free ones:
  `abc,cd->abd`, `abc,cde->abde`, `abcd,cde->abe`.
  """
  match = re.fullmatch(r"([a-z]+),([a-z]+)->([a-z]+)", equation)
  if not match:
    return None
  inputs, kernel, output = match.groups()
  contracted = "".join(c for c in inputs if c in kernel and c not in output)
  kept = inputs[:len(inputs) - len(contracted)]
  if (not contracted or inputs != kept + contracted
      or not kernel.startswith(contracted)
      or output != kept + kernel[len(contracted):]):
    return None
  return len(contracted), len(kept)


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class MatmulEinsumDense(tf_keras.layers.EinsumDense):
  """`EinsumDense` whose product runs as one [rows, in] x [in, out] matmul.

  Equations that are not a single matmul, and biases over only some output
  axes, run as Keras' einsum.
  """

  def build(self, input_shape):
    super().build(input_shape)
    # (kept input axes, fan in, the kernel's free axes) of the matmul, or None.
    self._plan = None
    plan = _matmul_plan(self.equation)
    if plan is not None:
      contracted, kept = plan
      free = self.kernel.shape[contracted:]
      if self.bias is None or self.bias.shape == free:
        self._plan = (kept, math.prod(self.kernel.shape[:contracted]), free)

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    if self._plan is None:
      return super().call(inputs)
    kept, fan_in, free = self._plan
    fan_out = math.prod(free)
    outputs = tf.matmul(tf.reshape(inputs, [-1, fan_in]),
                        tf.reshape(self.kernel, [fan_in, fan_out]))
    # BiasAdd and the activation on the 2-D product: oneDNN fuses MatMul +
    # BiasAdd + GELU into one kernel (README, "Speed on CPUs").
    if self.bias is not None:
      outputs = tf.nn.bias_add(outputs, tf.reshape(self.bias, [fan_out]))
    if self.activation is not None:
      outputs = self.activation(outputs)
    return tf.reshape(outputs, tf.concat([tf.shape(inputs)[:kept], free], 0))


def as_matmul_dense(layer: tf_keras.layers.EinsumDense) -> MatmulEinsumDense:
  """The same (unbuilt) layer, computed by matmul."""
  return MatmulEinsumDense.from_config(layer.get_config())


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertAttention(tf_keras.layers.MultiHeadAttention):
  """Keras self-attention with matmul kernels and a float32 softmax.

  Under `mixed_bfloat16` Keras computes the attention softmax in bfloat16;
  the probabilities then lose most of their precision over long sequences, so
  the softmax always runs in float32. Scores and context are batched matmuls
  on [batch, heads, seq, head_size]; the projections are `MatmulEinsumDense`.
  Variables and their names are Keras' own.
  """

  def _build_from_signature(self, query, value, key=None):
    super()._build_from_signature(query, value, key)
    # Unbuilt still: swapping them creates no variables.
    self._query_dense = as_matmul_dense(self._query_dense)
    self._key_dense = as_matmul_dense(self._key_dense)
    self._value_dense = as_matmul_dense(self._value_dense)
    self._output_dense = as_matmul_dense(self._output_dense)

  def _build_attention(self, rank):
    super()._build_attention(rank)
    self._softmax = tf_keras.layers.Softmax(axis=self._softmax.axis,
                                            dtype=tf.float32)

  def _compute_attention(self, query, key, value, attention_mask=None,
                         training=None):
    if query.shape.rank != 4 or self._attention_axes != (1,):
      return super()._compute_attention(query, key, value, attention_mask,
                                        training)
    # [batch, seq, heads, size] -> [batch, heads, seq, size].
    heads_first = lambda x: tf.transpose(x, [0, 2, 1, 3])
    query = query * (1.0 / math.sqrt(float(self._key_dim)))
    scores = tf.matmul(heads_first(query), heads_first(key), transpose_b=True)
    probabilities = self._masked_softmax(scores, attention_mask)
    dropped = self._dropout_layer(probabilities, training=training)
    context = tf.matmul(tf.cast(dropped, value.dtype), heads_first(value))
    return heads_first(context), probabilities
