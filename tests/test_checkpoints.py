"""Fine-tuning restores the encoder alone, optionally only its first k layers."""

import numpy as np
import pytest
import tensorflow as tf

import rembert_tf
from tests.conftest import tiny_config


@pytest.fixture
def pretraining_checkpoint(tmp_path):
  """A trained-looking pre-training checkpoint and the model that wrote it."""
  model = rembert_tf.RemBertPretrainer(tiny_config(num_hidden_layers=4))
  model(model.dummy_inputs())
  rng = np.random.default_rng(1)
  for v in model.weights:
    v.assign(rng.normal(0, 0.2, v.shape.as_list()).astype(np.float32))
  path = tf.train.Checkpoint(**model.checkpoint_items).write(
      str(tmp_path / "ckpt-1"))
  return model, path


def _inputs():
  ids = tf.constant([[1, 5, 9, 33, 2, 0], [1, 7, 2, 14, 18, 2]])
  return {"input_word_ids": ids, "input_mask": tf.cast(ids > 0, tf.int32),
          "input_type_ids": tf.constant([[0, 0, 0, 1, 1, 1]] * 2)}


def test_fine_tuning_encoder_restores_without_the_output_embedding(
    pretraining_checkpoint):
  pretrainer, path = pretraining_checkpoint
  encoder = rembert_tf.RemBertEncoder(pretrainer.config)
  report = rembert_tf.restore_encoder(encoder, path)
  assert report.fresh_pooler  # MLM-only pre-training has no pooler.
  assert report.layers_restored == report.layers_in_checkpoint == 4
  assert report.left_in_checkpoint == 6  # The MLM head, output embedding included.
  assert not any("output_embedding" in v.name for v in encoder.weights)
  np.testing.assert_array_equal(
      encoder(_inputs())["sequence_output"],
      pretrainer.encoder(_inputs())["sequence_output"])


def test_keep_first_k_layers_of_a_deeper_checkpoint(pretraining_checkpoint):
  pretrainer, path = pretraining_checkpoint
  shallow = rembert_tf.RemBertEncoder(pretrainer.config.for_finetuning(2))
  report = rembert_tf.restore_encoder(shallow, path)
  assert (report.layers_in_checkpoint, report.layers_restored) == (4, 2)
  outputs = shallow(_inputs())
  deep = pretrainer.encoder(_inputs())
  assert len(outputs["encoder_outputs"]) == 2
  np.testing.assert_array_equal(outputs["sequence_output"],
                                deep["encoder_outputs"][1])
  assert not np.allclose(outputs["sequence_output"], deep["sequence_output"])


def test_checkpoint_of_another_config_names_tensor_and_shapes(
    pretraining_checkpoint):
  _, path = pretraining_checkpoint
  other = rembert_tf.RemBertEncoder(
      tiny_config(num_hidden_layers=4, input_embedding_size=12))
  other(other.dummy_inputs())
  before = [v.numpy() for v in other.weights]
  with pytest.raises(rembert_tf.CheckpointMismatchError,
                     match=r"word_embeddings/embeddings.*\[61, 8\].*\[61, 12\]"):
    rembert_tf.restore_encoder(other, path)
  assert all(np.array_equal(a, v.numpy())  # Nothing was half-restored.
             for a, v in zip(before, other.weights))
  deeper = rembert_tf.RemBertEncoder(tiny_config(num_hidden_layers=6))
  with pytest.raises(rembert_tf.CheckpointMismatchError,
                     match="has 4 Transformer layers but the encoder needs 6"):
    rembert_tf.restore_encoder(deeper, path)
  with pytest.raises(rembert_tf.CheckpointMismatchError,
                     match="checkpoint not found"):
    rembert_tf.restore_encoder(deeper, path + "-missing")


def test_for_finetuning_keeps_k_layers_and_validates_k():
  config = tiny_config(num_hidden_layers=3)
  assert config.for_finetuning().num_hidden_layers == 3
  assert config.for_finetuning(2).num_hidden_layers == 2
  with pytest.raises(rembert_tf.ConfigError, match=r"cannot keep 4 layers"):
    config.for_finetuning(4)


def test_a_deeper_paper_config_carries_its_finetuning_depth():
  deep = rembert_tf.load_config("ein128_eout128_23layers")  # Table 5.
  assert (deep.num_hidden_layers, deep.num_finetuning_layers) == (23, 12)
  assert deep.for_finetuning().num_hidden_layers == 12
  assert deep.for_finetuning(20).num_hidden_layers == 20  # The flag wins.
  assert deep.for_finetuning().num_finetuning_layers is None
  assert "num_finetuning_layers" not in tiny_config().to_dict()
  with pytest.raises(rembert_tf.ConfigError, match="num_finetuning_layers"):
    tiny_config(num_finetuning_layers=4)
