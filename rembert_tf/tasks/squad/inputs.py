"""Reading the SQuAD feature TFRecords (`squad_features`) for training and
for exact prediction."""

import tensorflow as tf

from rembert_tf.tasks import evaluation
from rembert_tf.tasks import inputs as task_input

TRAIN_LABELS = ("start_positions", "end_positions")
UNIQUE_ID = "unique_id"


def parse_fn(seq_length: int) -> task_input.ParseFn:
  """Model inputs plus the answer positions, for training."""
  return task_input.parse_fn(seq_length, TRAIN_LABELS)


def padded_dataset(path: str, seq_length: int, global_batch_size: int,
                   num_features: int) -> tf.data.Dataset:
  """An evaluation file's features in order with their unique ids, then
  weight-0 padding rows (unique id -1) up to whole batches."""
  return evaluation.padded_dataset(path, seq_length, global_batch_size,
                                   num_features, scalars={UNIQUE_ID: -1})
