"""Reading the classification TFRecords into model-ready batches."""

from typing import Callable

import tensorflow as tf

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def parse_fn(seq_length: int) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
  """Parses one serialized example to int32 features plus `label_id`."""
  spec = {name: tf.io.FixedLenFeature([seq_length], tf.int64)
          for name in INPUT_NAMES}
  spec["label_id"] = tf.io.FixedLenFeature([], tf.int64)

  def parse(record: tf.Tensor) -> dict[str, tf.Tensor]:
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(value, tf.int32) for name, value in example.items()}
  return parse


def train_dataset(path: str, seq_length: int, batch_size: int, seed: int,
                  input_context: tf.distribute.InputContext) -> tf.data.Dataset:
  """Shuffled, repeated batches; each input pipeline reads its own shard."""
  dataset = tf.data.TFRecordDataset(path)
  if input_context.num_input_pipelines > 1:
    dataset = dataset.shard(input_context.num_input_pipelines,
                            input_context.input_pipeline_id)
  dataset = dataset.map(parse_fn(seq_length), tf.data.AUTOTUNE)
  dataset = dataset.shuffle(10_000, seed=seed).repeat()
  return dataset.batch(batch_size, drop_remainder=True).prefetch(2)
