"""MLM head: masked positions only, decoupled table, float32 weighted loss."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import rembert_tf
from tests.conftest import tiny_config


def test_head_never_computes_logits_at_unmasked_positions():
  config = tiny_config(vocab_size=97)
  model = rembert_tf.RemBertPretrainer(config)
  batch, seq, predictions = 2, 11, 3
  inputs = model.dummy_inputs(batch, seq)
  inputs["masked_lm_positions"] = tf.constant([[1, 4, 0], [2, 3, 9]])
  model(inputs)
  graph = tf.function(model).get_concrete_function(
      {k: tf.TensorSpec(v.shape, v.dtype) for k, v in inputs.items()}).graph
  vocab_shaped = [op.name for op in graph.get_operations() for t in op.outputs
                  if t.shape.rank and t.shape[-1] == config.vocab_size
                  and seq in t.shape.as_list()[:-1]]
  assert not vocab_shaped  # No [.., seq, V] tensor anywhere in the graph.
  assert model(inputs)["mlm_logits"].shape == (batch, predictions, 97)


def test_decoupled_head_owns_a_separate_output_embedding():
  config = tiny_config()
  model = rembert_tf.RemBertPretrainer(config)
  model(model.dummy_inputs())
  table = model.masked_lm.scoring_table
  assert table.shape == (config.vocab_size, config.output_embedding_size)
  assert table is not model.encoder.embeddings.word_embeddings.embeddings
  tied = rembert_tf.RemBertPretrainer(
      tiny_config(tie_word_embeddings=True, output_embedding_size=8))
  tied(tied.dummy_inputs())
  assert (tied.masked_lm.scoring_table is
          tied.encoder.embeddings.word_embeddings.embeddings)
  assert not any("output_embedding" in v.name for v in tied.weights)


def test_loss_and_accuracy_are_normalised_by_the_weights():
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(2, 4, 7)).astype(np.float32)
  labels = rng.integers(0, 7, (2, 4))
  labels[0, 0] = logits[0, 0].argmax()  # At least one correct prediction.
  weights = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
  loss, accuracy = rembert_tf.masked_lm_loss_and_accuracy(logits, labels, weights)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
  np.testing.assert_allclose(loss, (nll * weights).sum() / 3, rtol=1e-6)
  correct = (logits.argmax(-1) == labels) * weights
  np.testing.assert_allclose(accuracy, correct.sum() / 3, rtol=1e-6)
  zero_loss, zero_acc = rembert_tf.masked_lm_loss_and_accuracy(
      logits, labels, np.zeros_like(weights))
  assert float(zero_loss) == 0.0 and float(zero_acc) == 0.0


def test_mixed_bfloat16_keeps_logits_and_loss_in_float32():
  config = tiny_config()
  reference = rembert_tf.RemBertPretrainer(config)
  inputs = reference.dummy_inputs(batch_size=2, seq_length=8)
  inputs["input_word_ids"] = tf.constant(
      np.random.default_rng(0).integers(3, 61, (2, 8)), tf.int32)
  inputs["masked_lm_positions"] = tf.constant([[1, 2], [5, 7]])
  labels, weights = tf.constant([[5, 6], [7, 8]]), tf.ones([2, 2])
  reference(inputs)
  try:
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    mixed = rembert_tf.RemBertPretrainer(config)
    mixed(inputs)
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  mixed.set_weights(reference.get_weights())
  mixed_outputs = mixed(inputs)
  block = mixed.encoder.transformer_layers[0]
  assert block._intermediate_dense.compute_dtype == "bfloat16"
  assert mixed.masked_lm.dense.compute_dtype == "bfloat16"
  assert all(v.dtype == tf.float32 for v in mixed.weights)
  assert mixed_outputs["mlm_logits"].dtype == tf.float32
  mixed_loss, _ = rembert_tf.masked_lm_loss_and_accuracy(
      mixed_outputs["mlm_logits"], labels, weights)
  loss, _ = rembert_tf.masked_lm_loss_and_accuracy(
      reference(inputs)["mlm_logits"], labels, weights)
  assert mixed_loss.dtype == tf.float32
  assert float(mixed_loss) != float(loss)  # bfloat16 really was used...
  assert float(mixed_loss) == pytest.approx(float(loss), rel=2e-2)  # ...safely.


def test_layers_start_from_different_random_weights():
  encoder = rembert_tf.RemBertEncoder(tiny_config())
  encoder(encoder.dummy_inputs())
  first, second = (layer._attention_layer._query_dense.kernel.numpy()
                   for layer in encoder.transformer_layers[:2])
  assert not np.allclose(first, second)
  assert 0.01 < first.std() < 0.03  # Truncated normal, stddev 0.02.


def test_over_long_sequence_is_a_clear_error():
  encoder = rembert_tf.RemBertEncoder(tiny_config(max_position_embeddings=6))
  with pytest.raises(ValueError, match="exceeds max_position_embeddings"):
    encoder(encoder.dummy_inputs(seq_length=7))
