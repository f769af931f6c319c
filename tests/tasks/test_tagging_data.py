"""Tagging data: the three file forms, labels, windows, bad input."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf.data import sentencepiece_vocab
from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.tagging import data
from rembert_tf.tasks.tagging import features
from rembert_tf.tasks.tagging import postprocess
from rembert_tf.tasks.tagging import windows
from tests.tasks.conftest import LANGUAGES
from tests.tasks.conftest import NER_LABELS

TRAIN = "Anna\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n.\tO\n\nBoris\tB-PER\n"
CONLLU = """# sent_id = 1
# text = Anna's car.
1\tAnna\tAnna\tPROPN\t_\t_\t0\troot\t_\t_
2-3\tdel\t_\t_\t_\t_\t_\t_\t_\t_
2\tde\tde\tADP\t_\t_\t1\tcase\t_\t_
2.1\tgone\t_\tVERB\t_\t_\t_\t_\t_\t_
3\tel\tel\tDET\t_\t_\t1\tdet\t_\t_

1\tcar\tcar\tNOUN\t_\t_\t0\troot\t_\t_
"""


def _write(directory, name: str, text: str) -> str:
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(str(directory), name)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def test_reads_xtreme_tsv_raw_wikiann_and_conllu(tmp_path):
  tsv = data.read_file(_write(tmp_path, "dev-en.tsv", TRAIN + "\n\n\n"), "en")
  assert [s.words for s in tsv] == [("Anna", "lives", "in", "Paris", "."),
                                    ("Boris",)]
  assert tsv[1].labels == ("B-PER",) and tsv[1].lines == (7,)
  raw = data.read_file(_write(tmp_path, "dev-de.tsv",
                              "de:Berlin\tB-LOC\nde:ist\tO\n\nde:a:b\tO\n"),
                       "de")
  assert [s.words for s in raw] == [("Berlin", "ist"), ("a:b",)]
  (ud_dir := tmp_path / "ud").mkdir()
  _write(ud_dir, "dev-es.conllu", CONLLU)
  path = data.split_file("udpos", str(ud_dir), "dev", "es")
  assert path.endswith("dev-es.conllu")
  ud = data.read_file(path, "es")
  # Multi-word token "del" and empty node 2.1 skipped: the syntactic words.
  assert [(s.words, s.labels) for s in ud] == [
      (("Anna", "de", "el"), ("PROPN", "ADP", "DET")), (("car",), ("NOUN",))]
  assert ud[0].lines == (3, 5, 7)


def test_labels_come_from_the_training_file_or_the_flag(tmp_path):
  train = data.read_file(_write(tmp_path, "train-en.tsv", TRAIN), "en")
  assert data.label_set(train) == ("B-LOC", "B-PER", "O")
  assert data.label_set(train, NER_LABELS) == NER_LABELS
  assert data.metric("tsv", NER_LABELS) == data.ENTITY_F1
  assert data.metric("tsv", ("NOUN", "VERB")) == data.ACCURACY
  assert data.metric("udpos", ("O", "B-X")) == data.ACCURACY


def _prepare(tmp_path, sp_model, dev: str, *, task="panx", dev_name=None,
             **kwargs):
  source = tmp_path / "source"
  _write(source, "train-en.tsv", TRAIN)
  _write(source, dev_name or "dev-de.tsv", dev)
  return features.create_tagging_data(
      task, str(source), sp_model, str(tmp_path / "out"), languages=("de",),
      eval_splits=("dev",), **kwargs)


@pytest.mark.parametrize("dev, line, message, kwargs", [
    ("Anna\tB-PER\tx\n", 1, "expected token<TAB>label, found 3 "
     "tab-separated field(s)", {}),
    ("Anna\tB-PER\n\t O\n", 2, "the token is empty or only whitespace", {}),
    ("Anna\tB-PER\nin\tB-FOO\n", 2, "label 'B-FOO' is not in the label set "
     "['B-LOC', 'B-PER', 'O'] (the labels of ", {}),
    ("Anna\tB-PER\n" + "Qzxv" * 12 + "\tO\n", 2, "the word 'QzxvQzxvQzxv",
     {"max_seq_length": 8}),
    ("", None, "no sentences (an empty file?)", {}),
], ids=["columns", "empty_token", "unknown_label", "long_word", "empty_file"])
def test_bad_input_names_file_and_line(tmp_path, task_fixture, dev, line,
                                       message, kwargs):
  with pytest.raises(TaskError) as error:
    _prepare(tmp_path, task_fixture.sp_model, dev, **kwargs)
  where = str(tmp_path / "source" / "dev-de.tsv")
  assert str(error.value).startswith(
      f"{where}:{line}: " if line else f"{where}: ")
  assert message in str(error.value)
  assert not (tmp_path / "out").exists()
  assert os.listdir(tmp_path) == ["source"]  # Nothing half-written.


def test_conllu_sentence_without_tokens_is_refused(tmp_path, task_fixture):
  with pytest.raises(TaskError, match=r"dev-de\.conllu:11: a sentence with no "
                     r"tokens"):
    _prepare(tmp_path, task_fixture.sp_model,
             CONLLU + "\n# sent_id = 3\n2-3\tdel\t_\t_\t_\t_\t_\t_\t_\t_\n",
             task="udpos", dev_name="dev-de.conllu")
  assert not (tmp_path / "out").exists()


def test_unknown_labels_can_be_skipped_and_counted(tmp_path, task_fixture):
  meta = _prepare(tmp_path, task_fixture.sp_model,
                  "in\tB-FOO\n\nAnna\tB-PER\n", skip_unknown_labels=True)
  dev = meta["files"]["dev"]["de"]
  assert (dev["sentences"], dev["skipped"], dev["words"]) == (1, 1, 1)


def _sentences(*texts):
  return [data.Sentence(tuple(t.split()), ("O",) * len(t.split()),
                        tuple(range(len(t.split())))) for t in texts]


def test_long_sentences_are_cut_so_every_word_is_scored_once(task_fixture):
  vocab = sentencepiece_vocab.load_vocab(task_fixture.sp_model)
  sentences = _sentences("Anna lives in Paris .",
                         " ".join(["Борис живёт в Москве ."] * 6), "Dina",
                         " ".join(["अन्ना पेरिस में रहती है ।"] * 4))
  rows = features.build_windows("in-memory", sentences, ("O",), vocab, 12)
  assert rows.split_sentences == 2 and len(rows.sentence_index) > 6
  assert (np.diff(rows.sentence_index) >= 0).all()
  pieces = features.word_pieces(sentences, vocab)
  special = vocab.special
  for i, sentence_pieces in enumerate(pieces.to_list()):
    # The windows' pieces, in order, are the sentence's: none dropped or
    # repeated; each word's first piece is weighted, no other piece is.
    mine = rows.sentence_index == i
    ids, weights = rows.input_word_ids[mine], rows.label_weights[mine]
    inside = ~np.isin(ids, [special.cls, special.sep, special.pad])
    assert ids[inside].tolist() == [p for word in sentence_pieces for p in word]
    firsts = np.cumsum([0] + [len(w) for w in sentence_pieces])[:-1]
    assert np.flatnonzero(weights[inside]).tolist() == firsts.tolist()
    assert (rows.input_mask[mine].sum(axis=1) <= 12).all()
  outputs = {"predictions": rows.input_word_ids,
             "label_weights": rows.label_weights,
             "sentence_index": rows.sentence_index}
  per_word = postprocess.word_predictions(
      outputs, [len(s.words) for s in sentences], "in-memory")
  assert [len(p) for p in per_word] == [5, 30, 1, 24]
  with pytest.raises(TaskError, match="in-memory: scored 60 words of 4 "
                     "sentences, but the words file has 61"):
    postprocess.word_predictions(outputs, [5, 30, 2, 24], "in-memory")


def test_graph_windows_give_every_word_a_first_piece():
  """A word without pieces gets unk; one longer than a window (only raw
  text reaches this) keeps the pieces that fit."""
  special = {"cls": 1, "sep": 2, "pad": 0, "unk": 3}
  pieces = tf.ragged.constant([[[10], [], [11, 12, 13, 14, 15, 16], [17]]],
                              dtype=tf.int32, ragged_rank=2)
  rows = {k: v.numpy() for k, v in windows.layout_windows(
      pieces, max_seq_length=6, special_ids=special).items()}
  assert rows["input_word_ids"].tolist() == [[1, 10, 3, 2, 0, 0],
                                             [1, 11, 12, 13, 14, 2],
                                             [1, 17, 2, 0, 0, 0]]
  assert rows["word_index"].tolist() == [[-1, 0, 1, -1, -1, -1],
                                         [-1, 2, -1, -1, -1, -1],
                                         [-1, 3, -1, -1, -1, -1]]
  assert rows["sentence_index"].tolist() == [0, 0, 0]


def test_prepared_directory(tagging_task):
  meta = features.read_metadata(tagging_task.data_dir)
  assert meta["labels"] == list(NER_LABELS)
  assert meta["metric"] == data.ENTITY_F1
  assert sorted(meta["files"]["dev"]) == sorted(LANGUAGES)
  info = meta["files"]["dev"]["hi"]
  words, gold = features.read_words_file(tagging_task.data_dir, info)
  source = data.read_file(os.path.join(tagging_task.corpus, "panx",
                                       "dev-hi.tsv"), "hi")
  assert words == [list(s.words) for s in source]
  assert gold == [list(s.labels) for s in source]
  assert info["words"] == sum(map(len, words)) and info["split_sentences"] > 0
  assert "words_file" not in meta["files"]["train"]["en"]


def test_script_exits_1_with_one_line(tmp_path, task_fixture, repo_root):
  source = tmp_path / "source"
  _write(source, "train-en.tsv", TRAIN)
  bad = _write(source, "dev-de.tsv", "Anna\tB-PER\nlives\n")
  run = subprocess.run(
      [sys.executable, "create_tagging_data.py", "--task=panx",
       f"--data_dir={source}", f"--sp_model_file={task_fixture.sp_model}",
       f"--output_dir={tmp_path / 'out'}", "--languages=de",
       "--eval_splits=dev"],
      cwd=repo_root, capture_output=True, text=True, check=False,
      env={**os.environ, "TF_USE_LEGACY_KERAS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert run.returncode == 1
  assert run.stderr.splitlines() == [
      f"create_tagging_data.py: error: {bad}:2: expected token<TAB>label, "
      "found 1 tab-separated field(s)"]
  assert not (tmp_path / "out").exists()
