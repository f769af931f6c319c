"""Feeding batches to replicas so that the input position can be checkpointed.

TensorFlow's distributed iterators cannot be saved in a checkpoint (TF 2.20), so
a run that reads through them cannot resume at the exact batch it stopped at.
Single-worker runs (one device, or mirrored over the local GPUs or CPUs) therefore
read one plain `tf.data` iterator of global batches, which is checkpointable, and
split each batch over the replicas. TPU and multi-worker runs keep the distributed
input (prefetching to device, one pipeline per host) and, on resume, re-seed the
input order with the step: training continues validly but not on the same batches.
"""

from typing import Callable

import tensorflow as tf

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def _is_single_worker(strategy: tf.distribute.Strategy) -> bool:
  return isinstance(strategy, (tf.distribute.OneDeviceStrategy,
                               tf.distribute.MirroredStrategy))


class InputFeed:
  """Yields per-replica batches; `checkpointable` says if position is saved."""

  def __init__(self, strategy: tf.distribute.Strategy,
               dataset_fn: Callable[[int], DatasetFn], global_batch_size: int,
               start_step: int):
    """`dataset_fn(seed_offset)` returns the function building the dataset."""
    self._strategy = strategy
    self._replicas = strategy.num_replicas_in_sync
    self._per_replica = global_batch_size // self._replicas
    self.checkpointable = _is_single_worker(strategy)
    if self.checkpointable:
      self.iterator = iter(dataset_fn(0)(tf.distribute.InputContext()))
    else:
      self.iterator = iter(strategy.distribute_datasets_from_function(
          dataset_fn(start_step)))

  def example_shapes(self) -> dict[str, tf.TensorShape]:
    """Each feature's shape per example, from the input's spec."""
    return {name: tf.nest.flatten(spec, expand_composites=True)[0].shape[1:]
            for name, spec in self.iterator.element_spec.items()}

  def next(self):
    """The next batch, split over the replicas (call inside tf.function)."""
    batch = next(self.iterator)
    if not self.checkpointable or self._replicas == 1:
      return batch
    def replica_slice(context: tf.distribute.experimental.ValueContext):
      start = context.replica_id_in_sync_group * self._per_replica
      return tf.nest.map_structure(
          lambda t: t[start:start + self._per_replica], batch)
    return self._strategy.experimental_distribute_values_from_function(
        replica_slice)
