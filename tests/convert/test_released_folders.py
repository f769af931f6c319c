"""from_pretrained and load_tokenizer on released folders, converted on the fly.

The source folder is never written to: its listing and every mtime stay the
same, and the temporary conversion is gone afterwards.
"""

import os
import shutil
import tempfile

import numpy as np
import pytest
import tensorflow as tf

import rembert_tf
from rembert_tf import pretrained
from rembert_tf.convert import huggingface
from rembert_tf.convert.errors import ConversionError
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from tests.conftest import tiny_config
from tests.convert.test_export import _train_sentencepiece
from tests.convert.test_tf1_checkpoint import tf1_weights
from tests.convert.test_tf1_checkpoint import write_tf1_checkpoint

CONFIG = tiny_config()  # pad 0, [CLS] 1, [SEP] 2: the vocabulary's ids.
INPUTS = {"input_word_ids": tf.constant([[1, 9, 4, 2, 0]]),
          "input_mask": tf.constant([[1, 1, 1, 1, 0]]),
          "input_type_ids": tf.constant([[0, 0, 1, 1, 0]]),
          "masked_lm_positions": tf.constant([[1, 3]])}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """Ours, Hugging Face and TF1 folders of one model, each with its vocab."""
  tmp = tmp_path_factory.mktemp("released")
  sp_model = str(tmp / "sentencepiece.model")
  _train_sentencepiece(sp_model)
  model = RemBertPretrainer(CONFIG)
  pretrained.save_pretrained(model, str(tmp / "ours"))
  huggingface.export_model(str(tmp / "ours"), str(tmp / "hf"),
                           show_progress=False)
  os.makedirs(tmp / "tf1")
  weights = tf1_weights(CONFIG)
  weights["cls/predictions/mystery"] = np.ones([3], np.float32)
  write_tf1_checkpoint(str(tmp / "tf1" / "model.ckpt-100"), weights)
  CONFIG.to_json_file(str(tmp / "tf1" / "config.json"))
  for name in ("ours", "hf", "tf1"):
    shutil.copy(sp_model, tmp / name)
  return {"model": model, "weights": weights, "tmp": tmp,
          **{name: str(tmp / name) for name in ("ours", "hf", "tf1")}}


def _snapshot(folder):
  return {name: os.stat(os.path.join(folder, name)).st_mtime_ns
          for name in [".", *sorted(os.listdir(folder))]}


def test_hugging_face_folder_converts_on_the_fly(folders, tmp_path,
                                                  monkeypatch):
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
  before = _snapshot(folders["hf"])
  model = rembert_tf.from_pretrained(folders["hf"], "pretrainer")
  assert _snapshot(folders["hf"]) == before
  assert os.listdir(tmp_path) == []  # The conversion is removed.
  np.testing.assert_array_equal(model(INPUTS)["mlm_logits"].numpy(),
                                folders["model"](INPUTS)["mlm_logits"].numpy())


def test_tf1_folder_converts_on_the_fly(folders, tmp_path, monkeypatch):
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
  before = _snapshot(folders["tf1"])
  # An unknown head tensor: the encoder still loads, the pretrainer may not.
  encoder = rembert_tf.from_pretrained(folders["tf1"], "encoder")
  with pytest.raises(ConversionError, match=(
      r"cls/predictions/mystery \[3\].*add --allow_missing_head")):
    rembert_tf.from_pretrained(folders["tf1"], "pretrainer")
  assert _snapshot(folders["tf1"]) == before
  assert os.listdir(tmp_path) == []
  np.testing.assert_array_equal(
      encoder.embeddings.word_embeddings.embeddings.numpy(),
      folders["weights"]["bert/embeddings/word_embeddings"])


@pytest.mark.parametrize("name", ["ours", "hf", "tf1"])
def test_load_tokenizer_from_every_folder(folders, name):
  processor = rembert_tf.load_tokenizer(folders[name])
  assert [processor.piece_to_id(p) for p in ("[PAD]", "[CLS]", "[SEP]")] == [
      0, 1, 2]


def test_a_vocabulary_that_is_not_the_configs_is_refused(folders, tmp_path):
  sp_model = os.path.join(folders["ours"], "sentencepiece.model")
  with pytest.raises(ValueError, match="sentencepiece.model not found"):
    rembert_tf.load_tokenizer(str(tmp_path))
  tiny_config(bos_token_id=5).to_json_file(str(tmp_path / "config.json"))
  with pytest.raises(ValueError) as error:
    rembert_tf.load_tokenizer(str(tmp_path), sp_model_file=sp_model)
  assert str(error.value) == (
      f"{sp_model} does not match {tmp_path / 'config.json'}: [CLS] id 1 (the "
      "config has 5). Pass the SentencePiece model the encoder was "
      "pre-trained with.")
