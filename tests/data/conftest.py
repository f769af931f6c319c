"""Shared fixtures: a small demo corpus and a SentencePiece model trained on it."""

import os

import pytest

from rembert_tf.data import demo_corpus
from rembert_tf.data import sentencepiece_vocab

ACCENTED = "Café naïve हिन्दी Tiếng Việt"


@pytest.fixture(scope="session")
def accented_text() -> str:
  return ACCENTED


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> str:
  root = str(tmp_path_factory.mktemp("demo_corpus"))
  demo_corpus.write_demo_corpus(root, num_documents=120, num_train=40, num_eval=12)
  return root


@pytest.fixture(scope="session")
def sp_model(demo_root, tmp_path_factory) -> str:
  """A model trained on the demo text plus a line with accents and a virama."""
  extra = tmp_path_factory.mktemp("spm_extra") / "extra.txt"
  extra.write_text((ACCENTED + "\n") * 20, encoding="utf-8")
  files = [os.path.join(demo_root, "pretrain", lang, "demo.txt")
           for lang in demo_corpus.LANGUAGES] + [str(extra)]
  prefix = str(tmp_path_factory.mktemp("spm") / "test_spm")
  return sentencepiece_vocab.train_model(files, prefix, vocab_size=500)


@pytest.fixture(scope="session")
def vocab(sp_model):
  return sentencepiece_vocab.load_vocab(sp_model)
