"""--dtype=bfloat16 and float16: matmuls in 16 bits; LayerNorm, softmax, logits,
loss float32."""

import pytest
import tensorflow as tf
import tf_keras

import rembert_tf
from rembert_tf.modeling.losses import masked_lm_sums
from tests.conftest import tiny_config


@pytest.fixture(params=["bfloat16", "float16"])
def mixed_policy(request):
  tf_keras.mixed_precision.set_global_policy(f"mixed_{request.param}")
  yield request.param
  tf_keras.mixed_precision.set_global_policy("float32")


def _sublayers(layer):
  for child in layer._flatten_layers(include_self=False):  # pylint: disable=protected-access
    yield child


def test_numerically_sensitive_parts_stay_float32(mixed_policy):
  model = rembert_tf.RemBertPretrainer(tiny_config())
  inputs = model.dummy_inputs(2, 8)
  outputs = model(inputs)
  layers = list(_sublayers(model))
  norms = [l for l in layers
           if isinstance(l, tf_keras.layers.LayerNormalization)]
  softmaxes = [l for l in layers if isinstance(l, tf_keras.layers.Softmax)]
  dense = [l for l in layers if isinstance(l, tf_keras.layers.EinsumDense)]
  # Embeddings, 2 per layer and the MLM head's; one softmax per layer.
  assert len(norms) == 2 + 2 * 3 and len(softmaxes) == 3 and dense
  assert {l.compute_dtype for l in norms + softmaxes} == {"float32"}
  assert {l.compute_dtype for l in dense} == {mixed_policy}
  assert outputs["mlm_logits"].dtype == tf.float32
  sums = masked_lm_sums(outputs["mlm_logits"], tf.ones([2, 1], tf.int32),
                        tf.ones([2, 1]))
  assert sums.loss.dtype == tf.float32
  assert {v.dtype for v in model.trainable_variables} == {tf.float32}
