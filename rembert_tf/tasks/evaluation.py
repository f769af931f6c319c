"""Exact evaluation on fixed-size batches, as a TPU needs them.

The evaluation set is padded to a multiple of the global batch with copies of
an all-padding example whose weight is 0, so every batch has the same static
shape and no real example is dropped or scored twice. The scored weight is then
checked against the number of examples read from the file.
"""

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from rembert_tf.tasks import classifier_input
from rembert_tf.tasks.errors import TaskError

WEIGHT = "is_real_example"


@dataclasses.dataclass(frozen=True)
class LanguageResult:
  """One language's scores; `probabilities` [num_examples, num_labels]."""
  accuracy: float
  num_examples: int
  probabilities: np.ndarray
  label_ids: np.ndarray


def count_records(path: str) -> int:
  """Reads the whole file: the count the scored examples must match."""
  return int(tf.data.TFRecordDataset(path).reduce(
      tf.constant(0, tf.int64), lambda n, _: n + 1))


def padded_dataset(path: str, seq_length: int, global_batch_size: int,
                   num_examples: int) -> tf.data.Dataset:
  """All examples in file order (weight 1), then weight-0 padding."""
  def real(features):
    return {**features, WEIGHT: tf.constant(1.0)}
  dataset = tf.data.TFRecordDataset(path).map(
      classifier_input.parse_fn(seq_length)).map(real)
  padding = {name: tf.zeros([seq_length], tf.int32)
             for name in classifier_input.INPUT_NAMES}
  padding.update(label_id=tf.constant(0, tf.int32), **{WEIGHT: tf.constant(0.0)})
  num_padding = -num_examples % global_batch_size
  dataset = dataset.concatenate(
      tf.data.Dataset.from_tensors(padding).repeat(num_padding))
  return dataset.batch(global_batch_size, drop_remainder=True)


def evaluate_file(model: tf_keras.Model, strategy: tf.distribute.Strategy,
                  path: str, seq_length: int,
                  global_batch_size: int) -> LanguageResult:
  """Scores every example of one TFRecord file exactly once."""
  num_read = count_records(path)
  dataset = strategy.experimental_distribute_dataset(
      padded_dataset(path, seq_length, global_batch_size, num_read))

  @tf.function
  def step(batch):
    def replica_fn(features):
      logits = model(features, training=False)["logits"]
      return (tf.nn.softmax(logits, axis=-1), features["label_id"],
              features[WEIGHT])
    outputs = strategy.run(replica_fn, args=(batch,))
    return [tf.concat(strategy.experimental_local_results(t), axis=0)
            for t in outputs]

  probabilities, labels, weights = [], [], []
  for batch in dataset:
    p, l, w = (t.numpy() for t in step(batch))
    probabilities.append(p)
    labels.append(l)
    weights.append(w)
  weights = np.concatenate(weights)
  num_scored = int(weights.sum())
  if num_scored != num_read or weights[:num_read].min(initial=1) != 1:
    raise TaskError(f"{path}: scored {num_scored} examples but read "
                    f"{num_read}; evaluation would not be exact")
  probabilities = np.concatenate(probabilities)[:num_read]
  labels = np.concatenate(labels)[:num_read]
  correct = (probabilities.argmax(-1) == labels).sum()
  return LanguageResult(accuracy=float(correct / max(num_read, 1)),
                        num_examples=num_read, probabilities=probabilities,
                        label_ids=labels)


def accuracy_table(split: str, accuracy: dict[str, float],
                   examples: dict[str, int]) -> str:
  """One row per language, then the average over languages.

  Takes plain dicts so that it also formats a saved `eval_results.json`.
  """
  lines = [f"{'language':>8}  {split + ' accuracy':>14}  {'examples':>8}"]
  lines += [f"{lang:>8}  {accuracy[lang]:14.4f}  {examples[lang]:8d}"
            for lang in accuracy]
  lines.append(f"{'average':>8}  {float(np.mean(list(accuracy.values()))):14.4f}")
  return "\n".join(lines)
