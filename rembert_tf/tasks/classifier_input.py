"""Reading the classification TFRecords into model-ready batches."""

from rembert_tf.tasks import task_input

INPUT_NAMES = task_input.INPUT_NAMES


def parse_fn(seq_length: int) -> task_input.ParseFn:
  """Parses one serialized example to int32 features plus `label_id`."""
  return task_input.parse_fn(seq_length, ("label_id",))
