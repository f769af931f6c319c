"""Fixed-length TFRecord features into model-ready batches, for every task.

Every task writes the same kind of records: the int64 [seq_length] model
inputs plus a few per-example scalars (a label, a feature id, answer
positions) and, for tagging, per-token [seq_length] labels and weights.
Parsing casts everything to int32; training reads shuffled, repeated batches,
each input pipeline its own shard.
"""

from typing import Callable, Sequence

import tensorflow as tf

from rembert_tf.training import input_feed

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")

ParseFn = Callable[[tf.Tensor], dict[str, tf.Tensor]]


def parse_fn(seq_length: int, scalar_names: Sequence[str],
             sequence_names: Sequence[str] = ()) -> ParseFn:
  """Parses one serialized example to int32 inputs plus the named scalars
  and the named per-token ([seq_length]) features."""
  spec = {name: tf.io.FixedLenFeature([seq_length], tf.int64)
          for name in INPUT_NAMES + tuple(sequence_names)}
  spec.update({name: tf.io.FixedLenFeature([], tf.int64)
               for name in scalar_names})

  def parse(record: tf.Tensor) -> dict[str, tf.Tensor]:
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(value, tf.int32) for name, value in example.items()}
  return parse


def train_dataset_fn(path: str, parse: ParseFn, global_batch_size: int,
                     seed: int) -> Callable[[int], input_feed.DatasetFn]:
  """What `Trainer.train` takes: seed offset -> the per-pipeline dataset."""
  def dataset_fn(offset: int) -> input_feed.DatasetFn:
    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
      dataset = tf.data.TFRecordDataset(path)
      if context.num_input_pipelines > 1:
        dataset = dataset.shard(context.num_input_pipelines,
                                context.input_pipeline_id)
      dataset = dataset.map(parse, tf.data.AUTOTUNE)
      dataset = dataset.shuffle(10_000, seed=seed + offset).repeat()
      return dataset.batch(
          context.get_per_replica_batch_size(global_batch_size),
          drop_remainder=True).prefetch(2)
    return make
  return dataset_fn
