"""The learning-rate schedule and which variables AdamW decays."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import rembert_tf
from rembert_tf.training import optimization
from tests.conftest import tiny_config


def test_schedule_at_key_steps():
  schedule = optimization.WarmupLinearDecay(2e-4, num_warmup_steps=100,
                                            num_train_steps=1100)
  values = {s: float(schedule(s)) for s in (0, 50, 99, 100, 101, 600, 1099,
                                            1100, 1500)}
  assert values[0] == 0.0
  assert values[50] == pytest.approx(1e-4)
  assert values[99] == pytest.approx(1.98e-4)
  assert values[100] == pytest.approx(2e-4)  # The peak, where warmup ends.
  assert values[101] == pytest.approx(2e-4 * 999 / 1000)  # No drop after it.
  assert values[600] == pytest.approx(1e-4)
  assert values[1099] == pytest.approx(2e-7)
  assert values[1100] == values[1500] == 0.0
  with pytest.raises(ValueError, match="num_warmup_steps"):
    optimization.WarmupLinearDecay(1e-4, 10, 10)


def test_layer_norm_and_biases_are_excluded_from_weight_decay():
  model = rembert_tf.RemBertPretrainer(tiny_config(num_hidden_layers=1))
  model(model.dummy_inputs())
  decayed, excluded = optimization.split_by_weight_decay(
      model.trainable_variables)
  short = lambda names: sorted(n.split("/", 1)[1] for n in names)
  assert short(excluded) == sorted([
      "encoder/embeddings/layer_norm/gamma:0",
      "encoder/embeddings/layer_norm/beta:0",
      "encoder/embeddings/embedding_projection/bias:0",
      "encoder/transformer/layer_0/self_attention/query/bias:0",
      "encoder/transformer/layer_0/self_attention/key/bias:0",
      "encoder/transformer/layer_0/self_attention/value/bias:0",
      "encoder/transformer/layer_0/self_attention/attention_output/bias:0",
      "encoder/transformer/layer_0/self_attention_layer_norm/gamma:0",
      "encoder/transformer/layer_0/self_attention_layer_norm/beta:0",
      "encoder/transformer/layer_0/intermediate/bias:0",
      "encoder/transformer/layer_0/output/bias:0",
      "encoder/transformer/layer_0/output_layer_norm/gamma:0",
      "encoder/transformer/layer_0/output_layer_norm/beta:0",
      "masked_lm/output_bias:0",
      "masked_lm/transform/dense/bias:0",
      "masked_lm/transform/layer_norm/gamma:0",
      "masked_lm/transform/layer_norm/beta:0",
  ])
  assert short(decayed) == sorted([
      "encoder/embeddings/word_embeddings/embeddings:0",
      "encoder/embeddings/position_embedding/embeddings:0",
      "encoder/embeddings/type_embeddings/embeddings:0",
      "encoder/embeddings/embedding_projection/kernel:0",
      "encoder/transformer/layer_0/self_attention/query/kernel:0",
      "encoder/transformer/layer_0/self_attention/key/kernel:0",
      "encoder/transformer/layer_0/self_attention/value/kernel:0",
      "encoder/transformer/layer_0/self_attention/attention_output/kernel:0",
      "encoder/transformer/layer_0/intermediate/kernel:0",
      "encoder/transformer/layer_0/output/kernel:0",
      "masked_lm/output_embedding:0",
      "masked_lm/transform/dense/kernel:0",
  ])
  # The optimizer applies exactly this split: with zero gradients Adam's step
  # is zero, so only the decayed variables move, by lr * decay * value.
  optimizer = optimization.create_optimizer(
      optimization.WarmupLinearDecay(1e-2, 0, 10), weight_decay=0.1)
  before = [v.numpy() for v in model.trainable_variables]
  optimizer.apply_gradients(
      (tf.zeros_like(v), v) for v in model.trainable_variables)
  for value, variable in zip(before, model.trainable_variables):
    expected = value * (1 - 1e-2 * 0.1) if variable.name in decayed else value
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_fused_adamw_matches_tf_keras_adamw_dense_and_sparse():
  """The fused kernel is the same math as tf_keras's AdamW, step for step."""
  rng = np.random.default_rng(0)
  start = [rng.normal(size=(6, 4)).astype(np.float32),
           rng.normal(size=(5, 3)).astype(np.float32)]
  gradients = [
      (tf.constant(rng.normal(size=(6, 4)).astype(np.float32)),
       tf.IndexedSlices(  # Rows 1 and 3 (row 1 twice); the others get none.
           tf.constant(rng.normal(size=(3, 3)).astype(np.float32)),
           tf.constant([1, 3, 1]), tf.constant([5, 3])))
      for _ in range(6)]
  schedule = optimization.WarmupLinearDecay(1e-2, 2, 8)
  fused = optimization.create_optimizer(schedule, weight_decay=0.1)
  assert isinstance(fused, optimization.FusedAdamW)
  reference = tf_keras.optimizers.AdamW(schedule, weight_decay=0.1,
                                        epsilon=1e-6)
  results = []
  for optimizer in (fused, reference):
    variables = [tf.Variable(v) for v in start]
    for step_gradients in gradients:
      optimizer.apply_gradients(zip(step_gradients, variables))
    results.append([v.numpy() for v in variables])
  for ours, theirs in zip(*results):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
  moved = np.abs(results[0][1] - start[1]).max(axis=1)
  assert (moved > 0).all()  # Rows without a gradient decay all the same.
