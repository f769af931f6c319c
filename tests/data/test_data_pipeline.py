"""Tests for rembert_tf.data.pipeline (with shards, metadata, input_pipeline)."""

import collections
import dataclasses
import errno
import filecmp
import os

import numpy as np
import pytest

import rembert_tf  # noqa: F401  Sets the TensorFlow env defaults first.
from rembert_tf import file_io
from rembert_tf.data import input_pipeline
from rembert_tf.data import metadata
from rembert_tf.data import pipeline
from rembert_tf.data import shards
from rembert_tf.data.errors import DataPrepError

LANGS = ("en", "ru", "zh")


@pytest.fixture
def config(demo_root, sp_model, tmp_path):
  return pipeline.DataPrepConfig(
      input_files={lang: [f"{demo_root}/pretrain/{lang}/demo.txt"] for lang in LANGS},
      output_dir=str(tmp_path / "out"), sp_model_file=sp_model,
      max_seq_length=32, max_predictions_per_seq=5, dupe_factor=2,
      num_shards=3, num_workers=1)


def _chars(text):
  return collections.Counter(c for c in text if not c.isspace())


def test_shards_hold_all_text_masked_and_parse(config, vocab):
  meta = pipeline.run(config)
  ds = input_pipeline.make_pretraining_dataset(
      config.output_dir, batch_size=64, max_seq_length=32,
      max_predictions_per_seq=5, vocab_size=vocab.vocab_size, is_training=False)
  assert ds.element_spec["input_word_ids"].shape.as_list() == [None, 32]
  assert ds.element_spec["masked_lm_weights"].shape.as_list() == [None, 5]
  decoded, rows = collections.Counter(), 0
  for batch in ds.as_numpy_iterator():
    ids = batch["input_word_ids"].copy()
    assert ids.dtype == np.int32
    real = batch["masked_lm_weights"] > 0
    r = np.nonzero(real)[0]
    ids[r, batch["masked_lm_positions"][real]] = batch["masked_lm_ids"][real]
    assert (batch["input_mask"].sum(1) == (ids != vocab.special.pad).sum(1)).all()
    assert (ids[:, 0] == vocab.special.cls).all() and not batch["input_type_ids"].any()
    for row in ids:
      decoded += _chars(vocab.processor.decode(
          [i for i in row.tolist() if not vocab.never_mask[i]]))
    rows += len(ids)
  source = collections.Counter()
  for files in config.input_files.values():
    for path in files:
      with open(path, encoding="utf-8") as f:
        source += _chars(f.read())
  # Every character of the corpus, dupe_factor times, nothing else.
  assert decoded == collections.Counter({c: 2 * n for c, n in source.items()})
  assert rows == meta["totals"]["examples"]
  for lang in LANGS:
    entry = meta["languages"][lang]
    assert entry["documents"] == 120 and len(entry["shards"]) == 3
    assert entry["tokens"] == sum(map(len, vocab.processor.encode(
        [l.strip() for l in open(config.input_files[lang][0], encoding="utf-8")
         if l.strip()])))
  assert meta["sentencepiece"]["special_ids"] == vocab.special.as_dict()
  assert meta["sentencepiece"]["sha256"] == vocab.sha256


def test_output_identical_for_any_worker_count(config, tmp_path):
  pipeline.run(config)
  other = dataclasses.replace(config, output_dir=str(tmp_path / "two"), num_workers=2)
  pipeline.run(other)
  names = sorted(os.listdir(config.output_dir))
  # 9 shards, their stats files and metadata.json; the lock is gone.
  assert names == sorted(os.listdir(other.output_dir)) and len(names) == 19
  match, mismatch, errors = filecmp.cmpfiles(config.output_dir, other.output_dir,
                                             names, shallow=False)
  assert not mismatch and not errors


def test_restart_rebuilds_only_missing_shards(config):
  pipeline.run(config)
  out = config.output_dir
  victim = os.path.join(out, "ru-00001-of-00003.tfrecord")
  with open(victim, "rb") as f:
    original = f.read()
  os.remove(victim + ".json")
  with open(os.path.join(out, "zh-00000-of-00003.tfrecord.incomplete"), "wb") as f:
    f.write(b"left by a killed run")
  others = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)
            if n.endswith(".tfrecord") and n != os.path.basename(victim)}
  pipeline.run(config)
  with open(victim, "rb") as f:
    assert f.read() == original
  assert others == {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in others}
  assert not [n for n in os.listdir(out) if n.endswith(".incomplete")]


def test_alpha_changes_weights_without_rebuilding(config):
  pipeline.run(config)
  shard = os.path.join(config.output_dir, "en-00000-of-00003.tfrecord")
  before = os.stat(shard).st_mtime_ns
  meta = pipeline.run(dataclasses.replace(config, alpha=0.0))
  assert os.stat(shard).st_mtime_ns == before
  assert meta["sampling"]["weights"] == pytest.approx({l: 1 / 3 for l in LANGS})


def test_refuses_output_dir_with_other_settings(config):
  pipeline.run(config)
  with pytest.raises(DataPrepError, match=r"--output_dir: .*-of-00003\.tfrecord\.json "
                     r"was made with other settings "
                     r"\(max_seq_length: 32 there, 48 now\)"):
    pipeline.run(dataclasses.replace(config, max_seq_length=48))
  with pytest.raises(DataPrepError, match=r"en-00000-of-00003\.tfrecord is not a shard "
                     "of this run"):
    pipeline.run(dataclasses.replace(config, num_shards=2))


def test_refuses_shards_of_changed_input(config, tmp_path):
  copy = tmp_path / "en.txt"
  copy.write_bytes(open(config.input_files["en"][0], "rb").read())
  config = dataclasses.replace(config, input_files={"en": [str(copy)]})
  pipeline.run(config)
  with open(copy, "a", encoding="utf-8") as f:
    f.write("One more sentence.\n")
  with pytest.raises(DataPrepError, match=r"was made with other settings \(inputs: "):
    pipeline.run(config)


@pytest.mark.parametrize("change, message", [
    ({"max_predictions_per_seq": 31}, r"--max_predictions_per_seq=31 must be "
     r"between 1 and max_seq_length - 2 = 30"),
    ({"masked_lm_prob": 0.0}, r"--masked_lm_prob=0.0 must be in \(0, 1\]"),
    ({"dupe_factor": 0}, "--dupe_factor=0 must be >= 1"),
])
def test_bad_flags(config, change, message):
  with pytest.raises(DataPrepError, match=message):
    pipeline.run(dataclasses.replace(config, **change))
  assert not os.path.exists(config.output_dir)


def test_one_run_per_output_dir(config):
  os.makedirs(config.output_dir)
  with shards.exclusive(config.output_dir):
    with pytest.raises(DataPrepError, match=r"--output_dir: .*out is in use by "
                       r"another run \(it holds .*out/\.lock\)"):
      pipeline.run(config)
    assert os.listdir(config.output_dir) == [".lock"]  # The refused run wrote nothing.
  assert not os.listdir(config.output_dir)  # The holder removed its lock.
  pipeline.run(config)
  assert ".lock" not in os.listdir(config.output_dir)


class _FullDisk:
  """A file whose writes fail as on a full disk (or exhausted quota)."""

  def __init__(self, file, code):
    self._file, self._code = file, code

  def write(self, data):
    raise OSError(self._code, os.strerror(self._code))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_keeps_finished_shards(config, monkeypatch, caplog, tmp_path,
                                         code):
  """The same handling as the tmpfs test in test_data_cli.py, without root."""
  enter = file_io.AtomicFile.__enter__
  shards_opened = []

  def failing_second_shard(self):
    file = enter(self)
    if self.path.endswith(shards.SHARD_SUFFIX):
      shards_opened.append(self.path)
    return _FullDisk(file, code) if len(shards_opened) == 2 else file
  monkeypatch.setattr(file_io.AtomicFile, "__enter__", failing_second_shard)
  with pytest.raises(DataPrepError) as failure:
    pipeline.run(config)
  first = os.path.basename(shards_opened[0])
  assert sorted(os.listdir(config.output_dir)) == [first, first + ".json"]
  assert str(failure.value) == (
      f"--output_dir={config.output_dir}: {os.strerror(code)} while writing; "
      f"1 of 9 shards complete and kept ({first}; a complete one has its "
      ".json stats file beside it); metadata.json not written. Free space and "
      "rerun the same command: it resumes after the complete shards.")
  monkeypatch.undo()
  with caplog.at_level("INFO", logger="absl"):
    pipeline.run(config)
  assert "Skipping 1 finished shards" in caplog.text
  fresh = dataclasses.replace(config, output_dir=str(tmp_path / "fresh"))
  pipeline.run(fresh)
  names = sorted(os.listdir(fresh.output_dir))
  assert sorted(os.listdir(config.output_dir)) == names
  assert filecmp.cmpfiles(config.output_dir, fresh.output_dir, names,
                          shallow=False)[0] == names


def test_no_languages(config):
  with pytest.raises(DataPrepError, match="No languages to process"):
    pipeline.run(dataclasses.replace(config, input_files={}))


def test_metadata_validation_names_file_and_setting(config):
  pipeline.run(config)
  meta = metadata.read_metadata(config.output_dir)
  metadata.validate(meta, config.output_dir, max_seq_length=32, max_predictions_per_seq=5)
  with pytest.raises(file_io.MetadataError, match=(
      rf"{config.output_dir}/metadata.json: max_seq_length is 32 in the data but "
      r"128 in training; max_predictions_per_seq is 5 in the data but 20")):
    metadata.validate(meta, config.output_dir, max_seq_length=128, max_predictions_per_seq=20)
  with pytest.raises(file_io.MetadataError, match="vocab_size is"):
    input_pipeline.make_pretraining_dataset(
        config.output_dir, batch_size=2, max_seq_length=32,
        max_predictions_per_seq=5, vocab_size=250300)


def test_read_metadata_errors(tmp_path):
  with pytest.raises(file_io.MetadataError, match="metadata.json not found"):
    metadata.read_metadata(str(tmp_path))
  (tmp_path / "metadata.json").write_text('{"format": "other"}')
  with pytest.raises(file_io.MetadataError,
                     match="not rembert_tf.mlm_pretraining_shards"):
    metadata.read_metadata(str(tmp_path))


def _rows(ds):
  return sorted(row.tobytes() for b in ds.as_numpy_iterator()
                for row in np.concatenate([b["input_word_ids"],
                                           b["masked_lm_positions"]], 1))


def test_input_context_splits_examples(config):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  pipeline.run(config)
  kwargs = dict(batch_size=1000, max_seq_length=32, max_predictions_per_seq=5,
                is_training=False)
  parts = [_rows(input_pipeline.make_pretraining_dataset(
      config.output_dir, input_context=tf.distribute.InputContext(2, i, 1),
      **kwargs)) for i in range(2)]
  everything = _rows(
      input_pipeline.make_pretraining_dataset(config.output_dir, **kwargs))
  assert parts[0] and parts[1]
  assert sorted(parts[0] + parts[1]) == everything
