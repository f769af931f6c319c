"""Reading the tagging TFRecords (`features`) for training and for exact
prediction."""

import tensorflow as tf

from rembert_tf.tasks import evaluation
from rembert_tf.tasks import inputs as task_input
from rembert_tf.tasks.tagging import features


def parse_fn(seq_length: int) -> task_input.ParseFn:
  """Model inputs plus per-token `label_ids` and `label_weights`."""
  return task_input.parse_fn(seq_length, (), features.SEQUENCE_FEATURES)


def padded_dataset(path: str, seq_length: int, global_batch_size: int,
                   num_windows: int) -> tf.data.Dataset:
  """An evaluation file's windows in order with their sentences, then
  weight-0 padding rows (sentence -1, every token weight 0)."""
  return evaluation.padded_dataset(
      path, seq_length, global_batch_size, num_windows,
      scalars={features.SENTENCE_INDEX: -1},
      sequences=features.SEQUENCE_FEATURES)
