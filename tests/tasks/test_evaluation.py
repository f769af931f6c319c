"""Exact evaluation: weight-0 padding, every example scored once, the check."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from rembert_tf.tasks import evaluation
from rembert_tf.tasks.classification import inputs as classifier_input
from rembert_tf.tasks.classification import metrics as classifier_metrics
from rembert_tf.tasks.errors import TaskError
from tests.tasks.conftest import SEQ_LENGTH


class _ParityModel(tf_keras.Model):
  """Right exactly on examples whose token ids have an even sum.

  Padding examples (all ids 0, label 0) would count as right, so scoring any
  of them shows up in the accuracy.
  """

  def call(self, features, training=None):
    shift = tf.reduce_sum(features["input_word_ids"], axis=1) % 2
    return {"logits": 5.0 * tf.one_hot((features["label_id"] + shift) % 3, 3)}


def _rows(path: str) -> dict[str, np.ndarray]:
  rows = list(tf.data.TFRecordDataset(path).map(
      classifier_input.parse_fn(SEQ_LENGTH)).as_numpy_iterator())
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def test_padding_fills_the_last_batch_with_weight_zero(task_fixture):
  path = os.path.join(task_fixture.data_dir, "dev-de.tfrecord")
  batches = list(classifier_input.padded_dataset(path, SEQ_LENGTH, 4, 10))
  assert [b["input_word_ids"].shape.as_list() for b in batches] == [
      [4, SEQ_LENGTH]] * 3
  weights = np.concatenate([b[evaluation.WEIGHT].numpy() for b in batches])
  assert weights.tolist() == [1.0] * 10 + [0.0] * 2
  labels = np.concatenate([b["label_id"].numpy() for b in batches])[:10]
  np.testing.assert_array_equal(labels, _rows(path)["label_id"])


def test_accuracy_counts_each_real_example_once(task_fixture):
  path = os.path.join(task_fixture.data_dir, "dev-zh.tfrecord")
  rows = _rows(path)
  expected = float(np.mean(rows["input_word_ids"].sum(1) % 2 == 0))
  result = classifier_metrics.evaluate_file(
      _ParityModel(), tf.distribute.OneDeviceStrategy("/cpu:0"), path,
      SEQ_LENGTH, global_batch_size=4)
  assert result.num_examples == 10
  assert result.accuracy == pytest.approx(expected)
  assert 0.0 < expected < 1.0
  np.testing.assert_array_equal(result.label_ids, rows["label_id"])
  assert result.probabilities.shape == (10, 3)


def test_a_count_mismatch_is_an_error(task_fixture, monkeypatch):
  path = os.path.join(task_fixture.data_dir, "dev-en.tfrecord")
  monkeypatch.setattr(evaluation, "count_records", lambda _: 9)
  with pytest.raises(TaskError, match="scored 10 examples but read 9"):
    classifier_metrics.evaluate_file(_ParityModel(),
                             tf.distribute.OneDeviceStrategy("/cpu:0"), path,
                             SEQ_LENGTH, global_batch_size=4)


def test_table_lists_languages_and_average():
  table = classifier_metrics.accuracy_table("dev", {"en": 0.9, "de": 0.5},
                                    {"en": 10, "de": 12})
  lines = table.splitlines()
  assert lines[1].split() == ["en", "0.9000", "10"]
  assert lines[2].split() == ["de", "0.5000", "12"]
  assert lines[3].split() == ["average", "0.7000"]
  table = classifier_metrics.accuracy_table(
      "dev", {"en": 0.9, "hi": 0.5}, {"en": 10, "hi": 12}, {"en": 0, "hi": 7})
  assert table.splitlines()[0].split()[-1] == "truncated"
  assert table.splitlines()[2].split() == ["hi", "0.5000", "12", "7"]


_TWO_REPLICAS = r"""
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from rembert_tf.tasks.classification import metrics as classifier_metrics
from tests.tasks.test_evaluation import _ParityModel
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
result = classifier_metrics.evaluate_file(_ParityModel(), strategy, sys.argv[1], 32, 4)
np.save(sys.argv[2], result.probabilities)
print(result.accuracy, result.num_examples)
"""


def test_two_replicas_score_the_same_examples_in_order(task_fixture, tmp_path,
                                                      repo_root):
  path = os.path.join(task_fixture.data_dir, "dev-hi.tfrecord")
  one = classifier_metrics.evaluate_file(_ParityModel(),
                                 tf.distribute.OneDeviceStrategy("/cpu:0"),
                                 path, SEQ_LENGTH, global_batch_size=4)
  out = str(tmp_path / "two.npy")
  run = subprocess.run([sys.executable, "-c", _TWO_REPLICAS, path, out],
                       cwd=repo_root, capture_output=True, text=True,
                       check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                        "TF_USE_LEGACY_KERAS": "1"})
  accuracy, count = run.stdout.split()
  assert (float(accuracy), int(count)) == (pytest.approx(one.accuracy), 10)
  np.testing.assert_allclose(np.load(out), one.probabilities)
