"""from_pretrained / save_pretrained for every kind of model, and bad inputs."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from rembert_tf import pretrained
from rembert_tf.convert import huggingface
from rembert_tf.convert import importer
from rembert_tf.convert.__main__ import main
from rembert_tf.convert.errors import ConversionError
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from rembert_tf.modeling.task_models import RemBertClassifier
from rembert_tf.modeling.task_models import RemBertSpanLabeler
from tests.conftest import tiny_config

INPUTS = {"input_word_ids": tf.constant([[1, 9, 4, 2, 0]]),
          "input_mask": tf.constant([[1, 1, 1, 1, 0]]),
          "input_type_ids": tf.constant([[0, 0, 1, 1, 0]])}


def _outputs(model):
  inputs = dict(INPUTS)
  if isinstance(model, RemBertPretrainer):
    inputs["masked_lm_positions"] = tf.constant([[1, 2]])
  return {k: v.numpy() for k, v in model(inputs).items()
          if not isinstance(v, list)}


@pytest.mark.parametrize("kind,build", [
    ("pretrainer", lambda c: RemBertPretrainer(c)),
    ("classifier", lambda c: RemBertClassifier(c, num_classes=3)),
    ("span_labeler", lambda c: RemBertSpanLabeler(c)),
])
def test_save_and_load_round_trip(tmp_path, kind, build):
  model = build(tiny_config())
  before = _outputs(model)
  pretrained.save_pretrained(model, str(tmp_path / "saved"))
  assert sorted(os.listdir(tmp_path)) == ["saved"]
  loaded = pretrained.from_pretrained(str(tmp_path / "saved"), kind)
  assert type(loaded) is type(model)
  after = _outputs(loaded)
  assert before.keys() == after.keys()
  for key in before:
    np.testing.assert_array_equal(before[key], after[key], err_msg=key)
  # Every kind also loads as a plain encoder (a fresh pooler where none).
  encoder = pretrained.from_pretrained(str(tmp_path / "saved"), "encoder")
  np.testing.assert_array_equal(
      encoder(INPUTS)["sequence_output"].numpy(),
      model.encoder(INPUTS)["sequence_output"].numpy())


def test_coupled_pretrainer_round_trip(tmp_path):
  config = tiny_config(tie_word_embeddings=True, output_embedding_size=8)
  model = RemBertPretrainer(config)
  before = _outputs(model)
  pretrained.save_pretrained(model, str(tmp_path / "saved"))
  after = _outputs(pretrained.from_pretrained(str(tmp_path / "saved"),
                                              "pretrainer"))
  np.testing.assert_array_equal(before["mlm_logits"], after["mlm_logits"])


def test_fine_tuning_starts_from_a_pretrainer(tmp_path):
  pretrained.save_pretrained(RemBertPretrainer(tiny_config()),
                             str(tmp_path / "pre"))
  with pytest.raises(CheckpointMismatchError, match="pass num_classes"):
    pretrained.from_pretrained(str(tmp_path / "pre"), "classifier")
  classifier = pretrained.from_pretrained(str(tmp_path / "pre"), "classifier",
                                          num_classes=5)
  assert classifier(INPUTS)["logits"].shape == (1, 5)
  span = pretrained.from_pretrained(str(tmp_path / "pre"), "span_labeler")
  assert span(INPUTS)["start_logits"].shape == (1, 5)


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
  model = RemBertSpanLabeler(tiny_config())
  pretrained.save_pretrained(model, str(tmp_path / "saved"))
  with pytest.raises(FileExistsError):
    pretrained.save_pretrained(model, str(tmp_path / "saved"))
  pretrained.save_pretrained(model, str(tmp_path / "saved"), overwrite=True)
  assert sorted(os.listdir(tmp_path)) == ["saved"]


def test_config_that_does_not_match_the_weights(tmp_path):
  pretrained.save_pretrained(RemBertPretrainer(tiny_config()),
                             str(tmp_path / "saved"))
  tiny_config(intermediate_size=40).to_json_file(
      str(tmp_path / "saved" / "config.json"))
  with pytest.raises(CheckpointMismatchError,
                     match=r"_intermediate_dense/kernel.* \[16, 32\] .* \[16, 40\]"):
    pretrained.from_pretrained(str(tmp_path / "saved"), "pretrainer")


def _hf_dir(tmp_path):
  """A Hugging Face directory written by our exporter (no torch needed)."""
  pretrained.save_pretrained(RemBertPretrainer(tiny_config()),
                             str(tmp_path / "ours"))
  huggingface.export_model(str(tmp_path / "ours"), str(tmp_path / "hf"),
                           show_progress=False)
  return str(tmp_path / "hf")


def test_truncated_safetensors_is_an_error(tmp_path, capsys):
  hf = _hf_dir(tmp_path)
  path = os.path.join(hf, "model.safetensors")
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 100)
  out = str(tmp_path / "back")
  assert main(["hf-import", "--input", hf, "--output", out]) == 1
  err = capsys.readouterr().err
  assert f"error: {path}: truncated" in err
  assert not os.path.exists(out)


def test_hf_config_that_does_not_match_the_weights(tmp_path):
  hf = _hf_dir(tmp_path)
  with open(os.path.join(hf, "config.json"), encoding="utf-8") as f:
    values = json.load(f)
  values["output_embedding_size"] = 32
  with open(os.path.join(hf, "config.json"), "w", encoding="utf-8") as f:
    json.dump(values, f)
  config, _ = huggingface.read_config(hf)
  out = str(tmp_path / "back")
  with pytest.raises(ConversionError, match=(
      r"cls.predictions.dense.weight has shape \[24, 16\], but the config needs "
      r"\[32, 16\]")):
    importer.import_model(huggingface.HuggingFaceSource(hf), config, out)
  assert not os.path.exists(out)


def test_hf_round_trip_through_the_cli(tmp_path):
  hf = _hf_dir(tmp_path)
  assert main(["hf-import", "--input", hf, "--output",
               str(tmp_path / "back")]) == 0
  before = _outputs(pretrained.from_pretrained(str(tmp_path / "ours"),
                                               "pretrainer"))
  after = _outputs(pretrained.from_pretrained(str(tmp_path / "back"),
                                              "pretrainer"))
  np.testing.assert_array_equal(before["mlm_logits"], after["mlm_logits"])


def test_a_training_run_directory_loads_and_exports(tmp_path):
  """model_dir of a run: config.json + ckpt-N with optimizer state."""
  config = tiny_config()
  model = RemBertClassifier(config, num_classes=2)
  optimizer = tf_keras.optimizers.Adam(1e-3)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model(INPUTS, training=True)["logits"])
  optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
  run_dir = str(tmp_path / "run")
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(optimizer=optimizer, **model.checkpoint_items),
      run_dir, max_to_keep=1)
  manager.save(checkpoint_number=7)
  config.to_json_file(os.path.join(run_dir, "config.json"))
  loaded = pretrained.from_pretrained(run_dir, "classifier")
  np.testing.assert_array_equal(loaded(INPUTS)["logits"].numpy(),
                                model(INPUTS)["logits"].numpy())
  manifest = huggingface.export_model(run_dir, str(tmp_path / "hf"),
                                      show_progress=False)
  assert manifest.unplaced == []
  assert any(k.startswith("optimizer/") for k in manifest.skipped_optimizer_state)
