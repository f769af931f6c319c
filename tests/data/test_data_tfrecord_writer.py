"""Tests for rembert_tf.data.tfrecord_writer against TensorFlow's own I/O."""

import numpy as np
import pytest
import rembert_tf  # noqa: F401  Sets the TensorFlow env defaults first.
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.data import tfrecord_writer


def _features(rng, rows):
  return {"ids": rng.integers(0, 2**34, (rows, 9)),
          "small": rng.integers(0, 3, (rows, 4)).astype(np.int32),
          "weights": rng.random((rows, 3)).astype(np.float32)}


def test_examples_parse_back_exactly():
  features = _features(np.random.default_rng(0), 17)
  features["ids"][0, :5] = [0, 127, 128, 16383, 16384]
  serialized = tfrecord_writer.serialize_examples(features)
  for i, record in enumerate(serialized):
    example = tf.train.Example.FromString(record)
    f = example.features.feature
    assert list(f["ids"].int64_list.value) == features["ids"][i].tolist()
    assert list(f["small"].int64_list.value) == features["small"][i].tolist()
    np.testing.assert_array_equal(f["weights"].float_list.value, features["weights"][i])


def test_framing_is_byte_identical_to_tensorflow(tmp_path):
  rng = np.random.default_rng(1)
  # Records of very different lengths exercise the longest-first CRC loop.
  records = [b"", b"x", rng.bytes(300), *tfrecord_writer.serialize_examples(
      _features(rng, 5)), rng.bytes(70000)]
  path = str(tmp_path / "tf.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for r in records:
      writer.write(r)
  with open(path, "rb") as f:
    assert tfrecord_writer.frame_records(records) == f.read()


def test_atomic_file(tmp_path):
  path = tmp_path / "out.tfrecord"
  with pytest.raises(RuntimeError):
    with file_io.AtomicFile(str(path)) as f:
      f.write(b"partial")
      raise RuntimeError("interrupted")
  assert not list(tmp_path.iterdir())
  with file_io.AtomicFile(str(path)) as f:
    f.write(tfrecord_writer.frame_records([b"abc"]))
    assert not path.exists()
  assert [r.numpy() for r in tf.data.TFRecordDataset(str(path))] == [b"abc"]
  assert [p.name for p in tmp_path.iterdir()] == ["out.tfrecord"]
