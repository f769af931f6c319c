"""TSV readers, packing and the prep step's all-or-nothing output."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.export import preprocessing
from rembert_tf.tasks.classification import data as classification_data
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import inputs as classifier_input
from rembert_tf.tasks.errors import TaskError
from tests.tasks.conftest import LANGUAGES
from tests.tasks.conftest import SEQ_LENGTH


def _write(path: str, text: str) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def test_xtreme_reader_keeps_text_and_maps_contradictory(tmp_path):
  path = _write(str(tmp_path / "dev-vi.tsv"),
                "Café ở Hà Nội.\tKhông.\tcontradictory\nA b\tc\tneutral\n")
  examples = classification_data.read_examples(
      "xnli", path, classification_data.TASK_LABELS["xnli"])
  assert examples == [
      classification_data.Example("Café ở Hà Nội.", "Không.", "contradiction"),
      classification_data.Example("A b", "c", "neutral")]


def test_generic_tsv_reads_columns_by_header(tmp_path):
  path = _write(str(tmp_path / "train-en.tsv"),
                "id\tlabel\ttext_b\ttext_a\n7\tyes\tsecond\tfirst\n")
  examples = classification_data.read_examples("tsv", path, ("no", "yes"))
  assert examples == [classification_data.Example("first", "second", "yes")]


def test_generic_tsv_without_header_is_an_error(tmp_path):
  path = _write(str(tmp_path / "train-en.tsv"), "first\tsecond\tyes\n")
  with pytest.raises(TaskError, match=r"train-en.tsv:1: the header lacks"):
    classification_data.read_examples("tsv", path, ("no", "yes"))


@pytest.mark.parametrize("lengths,budget,kept", [
    ((10, 10), 5, (3, 2)), ((2, 10), 5, (2, 3)), ((10, 1), 5, (4, 1)),
    ((3, 2), 5, (3, 2)), ((7, 6), 9, (5, 4))])
def test_truncation_is_longest_first(lengths, budget, kept):
  """The packer both data prep and the SavedModel use: ids 1 and 2 stand
  for [CLS] and [SEP], 10... for the tokens of a, 20... for those of b."""
  a, b = list(range(10, 10 + lengths[0])), list(range(20, 20 + lengths[1]))
  packed = preprocessing.pack_segments(
      [preprocessing.to_ragged([a]), preprocessing.to_ragged([b])],
      budget + 3, cls_id=1, sep_id=2, pad_id=0)
  ids = packed["input_word_ids"].numpy()[0].tolist()
  assert ids[:sum(kept) + 3] == [1, *a[:kept[0]], 2, *b[:kept[1]], 2]
  types = packed["input_type_ids"].numpy()[0]
  assert (int((types == 0).sum()) - 2, int(types.sum()) - 1) == kept


def test_packing_layout(task_fixture):
  vocab = sentencepiece_vocab.load_vocab(task_fixture.sp_model)
  example = classification_data.Example("Anna lives in Paris.", "Anna works.",
                                        "neutral")
  packed = classifier_features.pack_examples(
      [example], classification_data.TASK_LABELS["xnli"], vocab, 24)
  a = vocab.processor.encode(example.text_a)
  b = vocab.processor.encode(example.text_b)
  ids = [vocab.special.cls, *a, vocab.special.sep, *b, vocab.special.sep]
  n = len(ids)
  assert packed.input_word_ids[0].tolist() == ids + [vocab.special.pad] * (24 - n)
  assert packed.input_mask[0].tolist() == [1] * n + [0] * (24 - n)
  assert packed.input_type_ids[0].tolist() == (
      [0] * (len(a) + 2) + [1] * (len(b) + 1) + [0] * (24 - n))
  assert packed.label_ids.tolist() == [2]
  assert packed.num_truncated == 0


def test_tfrecords_and_metadata_match_the_tsv(task_fixture):
  meta = classifier_features.read_metadata(task_fixture.data_dir)
  assert meta["labels"] == ["contradiction", "entailment", "neutral"]
  assert meta["max_seq_length"] == SEQ_LENGTH
  assert sorted(meta["files"]["dev"]) == sorted(LANGUAGES)
  assert meta["files"]["train"]["en"]["examples"] == 48
  vocab = sentencepiece_vocab.load_vocab(task_fixture.sp_model)
  assert meta["sentencepiece"]["sha256"] == vocab.sha256
  path = os.path.join(task_fixture.corpus, "xnli", "dev-hi.tsv")
  examples = classification_data.read_examples("xnli", path, meta["labels"])
  expected = classifier_features.pack_examples(examples, meta["labels"],
                                               vocab, SEQ_LENGTH)
  records = tf.data.TFRecordDataset(
      os.path.join(task_fixture.data_dir, "dev-hi.tfrecord")).map(
          classifier_input.parse_fn(SEQ_LENGTH))
  rows = list(records.as_numpy_iterator())
  assert len(rows) == meta["files"]["dev"]["hi"]["examples"] == 10
  np.testing.assert_array_equal(
      np.stack([r["input_word_ids"] for r in rows]), expected.input_word_ids)
  np.testing.assert_array_equal([r["label_id"] for r in rows],
                                expected.label_ids)


def _prep(task_fixture, data_dir: str, output_dir: str, **kwargs):
  return classifier_features.create_classifier_data(
      "xnli", data_dir, task_fixture.sp_model, output_dir, max_seq_length=16,
      eval_splits=("dev",), **kwargs)


def test_bad_label_names_file_and_line_and_writes_nothing(task_fixture,
                                                          tmp_path):
  data_dir = str(tmp_path / "xnli")
  _write(os.path.join(data_dir, "train-en.tsv"), "a\tb\tneutral\n")
  _write(os.path.join(data_dir, "dev-en.tsv"), "a\tb\tentailment\nc\td\tmaybe\n")
  output_dir = str(tmp_path / "out")
  with pytest.raises(TaskError, match=r"dev-en.tsv:2: label 'maybe' is not"):
    _prep(task_fixture, data_dir, output_dir, languages=["en"])
  assert os.listdir(tmp_path) == ["xnli"]


def test_missing_language_file_writes_nothing(task_fixture, tmp_path):
  output_dir = str(tmp_path / "out")
  with pytest.raises(TaskError, match=r"dev-fr.tsv: file not found"):
    _prep(task_fixture, os.path.join(task_fixture.corpus, "xnli"), output_dir,
          languages=["en", "fr"])
  assert not os.path.exists(output_dir)


def test_validate_names_the_mismatch(task_fixture):
  meta = classifier_features.read_metadata(task_fixture.data_dir)
  vocab = meta["sentencepiece"]
  with pytest.raises(file_io.MetadataError, match=r"max_seq_length is 32 in the data but "
                     r"64 here"):
    file_io.check_prepared_for(
        meta, task_fixture.data_dir, max_seq_length=64,
        vocab_size=vocab["vocab_size"],
        special_ids={k: vocab["special_ids"][k] for k in ("cls", "sep", "pad")},
        fix="Re-run create_classifier_data.py.")
  with open(os.path.join(task_fixture.data_dir, "metadata.json")) as f:
    assert json.load(f)["format"] == classifier_features.FORMAT


def test_summary_is_one_line_with_counts_and_truncation(task_fixture):
  meta = classifier_features.read_metadata(task_fixture.data_dir)
  line = classifier_features.summarize(meta, "out/xnli")
  assert "\n" not in line and line.startswith("out/xnli: xnli ")
  train = meta["files"]["train"]["en"]["examples"]
  assert f"train en ({train} pairs each)" in line
  truncated = {f"{s}-{l}": i["truncated"] for s, f in meta["files"].items()
               for l, i in f.items() if i["truncated"]}
  assert f"--max_seq_length={meta['max_seq_length']}: " in line
  for name, count in truncated.items():
    assert f"{name} {count}" in line


@pytest.mark.parametrize("dev_tsv, message", [
    (b"A b\tc d\tneutral\nCaf\xe9\tau lait\tneutral\n",
     "dev-en.tsv:2: not valid UTF-8 (invalid continuation byte at byte 19 of "
     "the file); re-encode it as UTF-8 (e.g. iconv -f <its encoding> -t "
     "UTF-8)"),
    (b"A b\tc d\tneutral\nA b\tc\td\tneutral\n",
     "dev-en.tsv:2: expected 3 tab-separated fields (text_a, text_b, label), "
     "found 4; remove the extra column or the tab inside a text (or use "
     "--task=tsv, whose header picks the columns)"),
], ids=["latin1", "fourth_field"])
def test_bad_tsv_row_is_one_line_naming_file_and_line(
    task_fixture, tmp_path, repo_root, dev_tsv, message):
  data_dir = tmp_path / "xnli"
  _write(str(data_dir / "train-en.tsv"), "a\tb\tneutral\n")
  (data_dir / "dev-en.tsv").write_bytes(dev_tsv)
  output_dir = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, "create_classifier_data.py", "--task=xnli",
       f"--data_dir={data_dir}", f"--sp_model_file={task_fixture.sp_model}",
       f"--output_dir={output_dir}", "--languages=en", "--eval_splits=dev"],
      cwd=repo_root, capture_output=True, text=True, check=False,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert result.stderr.splitlines() == [
      f"create_classifier_data.py: error: {data_dir}/{message}"]
  assert sorted(os.listdir(tmp_path)) == ["xnli"]  # Nothing written.
