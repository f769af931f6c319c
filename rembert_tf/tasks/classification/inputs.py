"""Reading the classification TFRecords into model-ready batches."""

import tensorflow as tf

from rembert_tf.tasks import evaluation
from rembert_tf.tasks import inputs as task_input


def parse_fn(seq_length: int) -> task_input.ParseFn:
  """Parses one serialized example to int32 features plus `label_id`."""
  return task_input.parse_fn(seq_length, ("label_id",))


def padded_dataset(path: str, seq_length: int, global_batch_size: int,
                   num_examples: int) -> tf.data.Dataset:
  """An evaluation file's examples in order, then weight-0 padding (label 0)."""
  return evaluation.padded_dataset(path, seq_length, global_batch_size,
                                   num_examples, scalars={"label_id": 0})
