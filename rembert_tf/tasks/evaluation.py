"""Exact evaluation on fixed-size batches, as a TPU needs them.

Shared by every fine-tuning task. The evaluation set is padded to a multiple
of the global batch with copies of an all-padding example whose weight is 0, so
every batch has the same static shape and no real example is dropped or scored
twice. The scored weight is then checked against the number of examples read
from the file.
"""

from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from rembert_tf.tasks import inputs as task_input
from rembert_tf.tasks.errors import TaskError

WEIGHT = "is_real_example"


def count_records(path: str) -> int:
  """Reads the whole file: the count the scored examples must match."""
  return int(tf.data.TFRecordDataset(path).reduce(
      tf.constant(0, tf.int64), lambda n, _: n + 1))


def pad_batches(dataset: tf.data.Dataset, padding: dict[str, tf.Tensor],
                num_examples: int, global_batch_size: int) -> tf.data.Dataset:
  """`dataset`'s examples (weight 1), then copies of `padding` (weight 0) up to
  a whole number of fixed-size batches."""
  def real(features):
    return {**features, WEIGHT: tf.constant(1.0)}
  padding = {**padding, WEIGHT: tf.constant(0.0)}
  num_padding = -num_examples % global_batch_size
  dataset = dataset.map(real).concatenate(
      tf.data.Dataset.from_tensors(padding).repeat(num_padding))
  return dataset.batch(global_batch_size, drop_remainder=True)


PredictFn = Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]


class ExactPredictor:
  """`predict_fn` traced once, then run over any number of `pad_batches`
  datasets of the same batch shape (one per file or language).

  Single-host strategies split each batch over their replicas; a multi-worker
  cluster predicts on each worker alone (its replicas hold the same weights),
  so no worker sees a partial set. `jit_compile` XLA-compiles `predict_fn`
  (one shape: the batches are fixed-size).
  """

  def __init__(self, strategy: tf.distribute.Strategy, predict_fn: PredictFn,
               jit_compile: bool = False):
    self._strategy = strategy
    self._distribute = not isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy)
    compiled = tf.function(predict_fn, jit_compile=jit_compile)

    def with_weight(features):
      return {**compiled(features), WEIGHT: features[WEIGHT]}

    if not self._distribute:
      self._step = tf.function(with_weight)
      return

    @tf.function
    def step(batch):
      outputs = strategy.run(with_weight, args=(batch,))
      return tf.nest.map_structure(
          lambda t: tf.concat(strategy.experimental_local_results(t), axis=0),
          outputs)
    self._step = step

  def __call__(self, batches: tf.data.Dataset, num_read: int,
               source: str) -> dict[str, np.ndarray]:
    """`predict_fn`'s outputs for each real example of `batches`, in order.

    Raises:
      TaskError: the scored weight differs from `num_read`, the count read
        from `source`: the evaluation would not be exact.
    """
    if self._distribute:
      batches = self._strategy.experimental_distribute_dataset(batches)
    chunks: dict[str, list[np.ndarray]] = {}
    for batch in batches:
      for name, value in self._step(batch).items():
        chunks.setdefault(name, []).append(value.numpy())
    outputs = {name: np.concatenate(c) for name, c in chunks.items()}
    weights = outputs.pop(WEIGHT)
    num_scored = int(weights.sum())
    if num_scored != num_read or weights[:num_read].min(initial=1) != 1:
      raise TaskError(f"{source}: scored {num_scored} examples but read "
                      f"{num_read}; evaluation would not be exact")
    return {name: value[:num_read] for name, value in outputs.items()}


def predict_exact(strategy: tf.distribute.Strategy, predict_fn: PredictFn,
                  batches: tf.data.Dataset, num_read: int, source: str,
                  jit_compile: bool = False) -> dict[str, np.ndarray]:
  """`predict_fn`'s outputs for each real example of `batches` (from
  `pad_batches`), in order; see `ExactPredictor`.

  Raises:
    TaskError: the evaluation would not be exact (see `ExactPredictor`).
  """
  return ExactPredictor(strategy, predict_fn, jit_compile)(batches, num_read,
                                                           source)


def padded_dataset(path: str, seq_length: int, global_batch_size: int,
                   num_examples: int, scalars: Mapping[str, int],
                   sequences: Sequence[str] = ()) -> tf.data.Dataset:
  """A feature file's examples in order, then weight-0 padding.

  `scalars` names the per-example int features and their padding values;
  `sequences` the per-token ([seq_length]) int features, which pad with 0 like
  the model inputs.
  """
  padding = {name: tf.zeros([seq_length], tf.int32)
             for name in task_input.INPUT_NAMES + tuple(sequences)}
  padding.update({name: tf.constant(value, tf.int32)
                  for name, value in scalars.items()})
  return pad_batches(
      tf.data.TFRecordDataset(path).map(
          task_input.parse_fn(seq_length, tuple(scalars), sequences)),
      padding, num_examples, global_batch_size)
