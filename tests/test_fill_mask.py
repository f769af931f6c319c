"""fill_mask on a tiny pretrainer: sorted top-k, the head's bias obeyed."""

import shutil

import numpy as np
import pytest

import rembert_tf
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from tests.conftest import tiny_config
from tests.convert.test_export import _train_sentencepiece

TEXTS = ["the brown [MASK] jumps",  # Three languages.
         "der braune [MASK] springt",
         "быстрая [MASK] лиса"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  """A saved pretrainer whose output bias strongly favours the piece ▁28."""
  tmp = tmp_path_factory.mktemp("fill_mask")
  processor = _train_sentencepiece(str(tmp / "spm.model"))
  model = RemBertPretrainer(tiny_config(max_position_embeddings=32))
  model(model.dummy_inputs())
  favoured = processor.piece_to_id("▁28")
  assert favoured != processor.unk_id()
  bias = np.zeros([61], np.float32)
  bias[favoured] = 30.0
  model.masked_lm.output_bias.assign(bias)
  rembert_tf.save_pretrained(model, str(tmp / "model"))
  shutil.copy(tmp / "spm.model", tmp / "model" / "sentencepiece.model")
  return str(tmp / "model"), favoured


def test_top_k_is_sorted_and_follows_the_output_bias(folder):
  path, favoured = folder
  model = rembert_tf.from_pretrained(path, "pretrainer")
  tokenizer = rembert_tf.load_tokenizer(path)
  for text in TEXTS:
    predictions = rembert_tf.fill_mask(model, tokenizer, text, top_k=5)
    assert len(predictions) == 5, text
    scores = [p.score for p in predictions]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1]
    assert sum(scores) <= 1 + 1e-6
    assert len({p.token_id for p in predictions}) == 5
    assert all(0 <= p.token_id < 61 for p in predictions)
    assert (predictions[0].token_id, predictions[0].token) == (
        favoured, "▁28")
    assert predictions[0].score > 0.99
  best = rembert_tf.fill_mask(model, tokenizer, TEXTS[0], top_k=2)
  assert len(best) == 2
  assert best[0].sequence == "the brown 28 jumps"


def test_exactly_one_mask(folder):
  path, _ = folder
  model = rembert_tf.from_pretrained(path, "pretrainer")
  tokenizer = rembert_tf.load_tokenizer(path)
  with pytest.raises(ValueError, match="exactly one \\[MASK\\], it has 2"):
    rembert_tf.fill_mask(model, tokenizer, "[MASK] and [MASK]")
