"""Tests for rembert_tf.data.sentencepiece_vocab."""

import hashlib

import numpy as np
import pytest
import sentencepiece as spm

from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data.errors import DataPrepError


def test_special_ids_are_read_from_the_model(vocab):
  sp = vocab.processor
  assert vocab.special.pad == sp.pad_id() == 0
  assert vocab.special.unk == sp.unk_id()
  for name, piece in [("cls", "[CLS]"), ("sep", "[SEP]"), ("mask", "[MASK]")]:
    ident = getattr(vocab.special, name)
    assert sp.id_to_piece(ident) == piece and sp.is_control(ident)
  assert len(set(vocab.special.as_dict().values())) == 5


def test_no_lowercasing_or_accent_stripping(vocab, accented_text):
  sp = vocab.processor
  for text in (accented_text, "Hà Nội", "Mát-xcơ-va", "Das Buch von Anna ist grün."):
    ids = sp.encode(text)
    assert sp.unk_id() not in ids
    assert sp.decode(ids) == text


def test_tables(vocab):
  sp = vocab.processor
  assert vocab.never_mask[[vocab.special.cls, vocab.special.sep,
                           vocab.special.mask, vocab.special.pad]].all()
  assert not vocab.never_mask[vocab.replacement_ids].any()
  assert vocab.special.unk not in vocab.replacement_ids
  starts = [i for i in range(sp.get_piece_size()) if sp.id_to_piece(i).startswith("▁")]
  np.testing.assert_array_equal(np.flatnonzero(vocab.word_start), starts)
  with open(vocab.path, "rb") as f:
    assert vocab.sha256 == hashlib.sha256(f.read()).hexdigest()


def test_model_without_special_tokens_is_rejected(demo_root, tmp_path):
  prefix = str(tmp_path / "plain")
  spm.SentencePieceTrainer.train(
      input=f"{demo_root}/pretrain/en/demo.txt", model_prefix=prefix,
      vocab_size=60, minloglevel=2)
  with pytest.raises(DataPrepError, match=r"plain\.model lacks the special "
                     r"tokens \['\[CLS\]', '\[SEP\]', '\[MASK\]', 'pad"):
    sentencepiece_vocab.load_vocab(prefix + ".model")


def test_missing_or_invalid_model(tmp_path):
  with pytest.raises(DataPrepError,
                     match="--sp_model_file: .*nope.model does not exist"):
    sentencepiece_vocab.load_vocab(str(tmp_path / "nope.model"))
  bad = tmp_path / "bad.model"
  bad.write_bytes(b"not a model")
  with pytest.raises(DataPrepError, match="bad.model is not a SentencePiece model"):
    sentencepiece_vocab.load_vocab(str(bad))


def test_training_failure_is_a_clear_error(tmp_path):
  text = tmp_path / "tiny.txt"
  text.write_text("ab\n", encoding="utf-8")
  with pytest.raises(DataPrepError, match="SentencePiece training of .*tiny_spm"):
    sentencepiece_vocab.train_model([str(text)], str(tmp_path / "tiny_spm"), 1)
  assert not list(tmp_path.glob("tiny_spm*"))


def test_training_is_reproducible(demo_root, tmp_path):
  files = [f"{demo_root}/pretrain/{lang}/demo.txt" for lang in ("en", "hi", "zh")]
  models = [sentencepiece_vocab.train_model(files, str(tmp_path / name), 300)
            for name in ("a", "b")]
  with open(models[0], "rb") as a, open(models[1], "rb") as b:
    assert a.read() == b.read()
