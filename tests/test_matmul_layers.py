"""The matmul forms of the projections, attention and block equal Keras' and
tf-models-official's einsum forms: values, gradients and variable names."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.nlp.modeling import layers as tfm_layers

from rembert_tf.modeling import activations
from rembert_tf.modeling import encoder as encoder_lib
from rembert_tf.modeling import matmul_layers

_RNG = np.random.default_rng(0)


def _normal(*shape):
  return tf.constant(_RNG.normal(size=shape).astype(np.float32))


@pytest.mark.parametrize("equation,output_shape,bias_axes,inputs", [
    ("abc,cd->abd", (None, 12), "d", (2, 5, 8)),  # FFN, Ein -> H.
    ("abc,cde->abde", (None, 3, 4), "de", (2, 5, 8)),  # Q, K, V.
    ("abcd,cde->abe", (None, 8), "e", (2, 5, 3, 4)),  # Attention output.
    ("abc,cde->abde", (None, 3, 4), "e", (2, 5, 8)),  # A partial bias.
    ("abc,cd->abd", (None, 12), None, (2, 5, 8)),
])
def test_matmul_dense_equals_einsum_dense_with_its_gradients(
    equation, output_shape, bias_axes, inputs):
  kwargs = dict(output_shape=output_shape, bias_axes=bias_axes,
                activation=activations.gelu_exact,
                bias_initializer="random_normal")
  reference = tf_keras.layers.EinsumDense(equation, **kwargs)
  layer = matmul_layers.MatmulEinsumDense(equation, **kwargs)
  x = _normal(*inputs)
  reference(x)
  layer(x)
  layer.set_weights(reference.get_weights())
  assert [w.name for w in layer.weights] == [
      w.name.replace("einsum_dense", "matmul_einsum_dense")
      for w in reference.weights]
  results = []
  for model in (reference, layer):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = model(x)
      loss = tf.reduce_sum(y * tf.sin(y))
    results.append([y, *tape.gradient(loss, [x, *model.trainable_weights])])
  for want, got in zip(*results):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_only_single_matmul_equations_take_the_matmul_path():
  assert matmul_layers._matmul_plan("abc,cd->abd") == (1, 2)  # pylint: disable=protected-access
  assert matmul_layers._matmul_plan("abcd,cde->abe") == (2, 2)  # pylint: disable=protected-access
  for equation in ("abc,dc->abd", "abc,cd->adb", "...c,cd->...d",
                   "abcd,dce->abe"):
    assert matmul_layers._matmul_plan(equation) is None, equation  # pylint: disable=protected-access
  # Those still compute, as Keras' einsum.
  layer = matmul_layers.MatmulEinsumDense("abc,dc->abd", output_shape=(None, 6))
  x = _normal(2, 3, 4)
  np.testing.assert_allclose(
      layer(x), tf.einsum("abc,dc->abd", x, layer.kernel), rtol=1e-6)


def test_attention_equals_keras_attention_with_a_mask():
  stock = tf_keras.layers.MultiHeadAttention(num_heads=3, key_dim=4)
  ours = matmul_layers.RemBertAttention(num_heads=3, key_dim=4)
  x = _normal(2, 6, 12)
  mask = tf.constant(np.tril(np.ones((2, 6, 6), np.int32)))
  stock(x, x, attention_mask=mask)
  ours(x, x, attention_mask=mask)
  assert [w.name for w in ours.weights] == [
      w.name.replace("multi_head_attention", "rem_bert_attention")
      for w in stock.weights]
  ours.set_weights(stock.get_weights())
  got, got_scores = ours(x, x, attention_mask=mask,
                         return_attention_scores=True)
  want, want_scores = stock(x, x, attention_mask=mask,
                            return_attention_scores=True)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)


def test_block_equals_the_stock_tfm_block_and_keeps_its_names():
  kwargs = dict(num_attention_heads=2, inner_dim=16,
                inner_activation=activations.gelu_exact, norm_first=False,
                output_dropout=0.0, attention_dropout=0.0)
  stock = tfm_layers.TransformerEncoderBlock(**kwargs, name="layer_0")
  ours = encoder_lib.TransformerBlock(**kwargs, name="layer_0")
  inputs = [_normal(2, 5, 8), tf.ones([2, 5, 5])]
  stock(inputs)
  ours(inputs)
  # The same names (checkpoints are by name and object path); the order
  # differs, as the rebuilt sublayers are tracked after the stock ones.
  by_name = {w.name: w for w in stock.weights}
  assert sorted(by_name) == sorted(w.name for w in ours.weights)
  for w in ours.weights:
    w.assign(by_name[w.name])
  # float32: the GELU runs inside the matmul layer, where oneDNN fuses it.
  assert ours._intermediate_dense.activation is activations.gelu_exact  # pylint: disable=protected-access
  np.testing.assert_allclose(ours(inputs), stock(inputs), rtol=1e-5,
                             atol=1e-5)
