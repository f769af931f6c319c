"""The original RemBERT checkpoint (gs://gresearch/rembert): TF1, name-based.

About 12 GB: the 995M-parameter pre-training model (encoder, pooler if present,
MLM head and the decoupled output embedding) and two Adam slots per variable.
Tensors are read one at a time straight into TensorFlow tensors (RestoreV2, no
NumPy copy), so converting it needs memory for the model plus its largest tensor,
not for the file; the optimizer slots are never read.
"""

import tensorflow as tf

from rembert_tf.convert.errors import ConversionError
from rembert_tf.convert.importer import Source


def resolve_prefix(path: str) -> str:
  """A checkpoint prefix, from a prefix or a directory holding a checkpoint."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest:
      return latest
    indexes = tf.io.gfile.glob(f"{path}/*.index")
    if len(indexes) == 1:
      return indexes[0][:-len(".index")]
    raise ConversionError(f"{path}: no TF checkpoint (*.index) found")
  if not tf.io.gfile.exists(path + ".index"):
    raise ConversionError(f"{path}: not a TF checkpoint ({path}.index missing)")
  return path


class TF1CheckpointSource(Source):
  """Name-based TF checkpoint with `bert/...` names."""

  layout = "tf1"
  format_name = "tf1_checkpoint"

  def __init__(self, path: str):
    super().__init__(resolve_prefix(path))
    try:
      reader = tf.train.load_checkpoint(self.path)
      self._shapes = {name: list(shape) for name, shape in
                      reader.get_variable_to_shape_map().items()}
      self._dtypes = reader.get_variable_to_dtype_map()
    except (tf.errors.OpError, ValueError) as e:
      raise ConversionError(
          f"{self.path}: cannot read the checkpoint index (truncated or not a "
          f"TF checkpoint): {type(e).__name__}: {e}") from None

  def shapes(self) -> dict[str, list[int]]:
    return self._shapes

  def read(self, name: str) -> tf.Tensor:
    try:
      value = tf.raw_ops.RestoreV2(
          prefix=self.path, tensor_names=[name], shape_and_slices=[""],
          dtypes=[self._dtypes[name]])[0]
    except tf.errors.OpError as e:
      raise ConversionError(
          f"{self.path}: cannot read {name} (truncated or corrupt data file): "
          f"{type(e).__name__}: {e.message}") from None
    return value if value.dtype == tf.float32 else tf.cast(value, tf.float32)
