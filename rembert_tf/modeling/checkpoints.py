"""Restoring an encoder from a pre-training (or deeper) checkpoint.

Pre-training checkpoints hold `encoder/...` and `masked_lm/...`. Fine-tuning needs the
encoder only: the output embedding is left in the file (the paper's pre-training-only
parameters), and an encoder built with `num_layers_to_keep=k` takes the first k layers
of a deeper one (paper section 6.2). A pooler missing from the checkpoint (MLM-only
pre-training has none) starts fresh. Everything else must match, or this fails with
the first mismatching variable and both shapes, before anything is assigned.
"""

import collections
import dataclasses
import re

import tensorflow as tf

from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.pretrainer import unique_variables

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_LAYER = re.compile(r"^encoder/transformer_layers/(\d+)/")


class CheckpointMismatchError(ValueError):
  """The checkpoint does not fit the model; the message says where."""


@dataclasses.dataclass(frozen=True)
class RestoreReport:
  """What a restore did, for the log."""
  checkpoint: str
  restored_variables: int
  layers_in_checkpoint: int
  layers_restored: int
  fresh_pooler: bool
  left_in_checkpoint: int


def resolve_checkpoint(path: str) -> str:
  """Accepts a checkpoint prefix or a directory holding checkpoints."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      raise CheckpointMismatchError(f"no checkpoint found in directory {path}")
    return latest
  if not tf.io.gfile.exists(path + ".index"):
    raise CheckpointMismatchError(
        f"checkpoint not found: {path} (expected {path}.index; pass a "
        "checkpoint prefix such as model_dir/ckpt-1000 or its directory)")
  return path


def variable_keys(**roots: tf.Module) -> dict[object, str]:
  """Maps each variable's `ref()` to its key in `tf.train.Checkpoint(**roots)`.

  Keys are the breadth-first attribute paths TensorFlow itself writes, so a shared
  variable (the coupled input/output table) gets the single key it is saved under.
  """
  root = tf.train.Checkpoint(**roots)
  view = tf.train.TrackableView(root)
  keys, seen, queue = {}, set(), collections.deque([(root, "")])
  while queue:
    node, prefix = queue.popleft()
    for name, child in view.children(node).items():
      if id(child) in seen:
        continue
      seen.add(id(child))
      if isinstance(child, tf.Variable):
        keys[child.ref()] = prefix + name + _SUFFIX
      else:
        queue.append((child, prefix + name + "/"))
  return keys


def plan_restore(path: str, **roots: tf.Module
                 ) -> tuple[list[tuple[tf.Variable, str]], list[tf.Variable]]:
  """Pairs each variable of `roots` with its checkpoint key, checking shapes.

  Returns:
    (variable, key) pairs present in the checkpoint, and the variables that are
    absent from it.

  Raises:
    CheckpointMismatchError: naming the first key whose shape differs, with both
      shapes, before anything is assigned.
  """
  shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  keys = variable_keys(**roots)
  present, absent = [], []
  variables = unique_variables([v for r in roots.values() for v in r.weights])
  for variable in variables:
    key = keys[variable.ref()]
    if key not in shapes:
      absent.append(variable)
    elif list(shapes[key]) != variable.shape.as_list():
      raise CheckpointMismatchError(
          f"{path}: {key} has shape {list(shapes[key])} in the checkpoint but "
          f"{variable.shape.as_list()} in the model; the checkpoint was written "
          "for another config")
    else:
      present.append((variable, key))
  return present, absent


def restore_encoder(encoder: RemBertEncoder, path: str) -> RestoreReport:
  """Restores `encoder` from a pre-training or encoder checkpoint at `path`.

  Every key and shape is checked before the first value is assigned, and values
  are read one tensor at a time, so memory stays near the encoder's own size.

  Raises:
    CheckpointMismatchError: a missing variable, a shape mismatch (both shapes
      named) or too few layers in the checkpoint.
  """
  path = resolve_checkpoint(path)
  if not encoder.built:
    encoder(encoder.dummy_inputs())
  reader = tf.train.load_checkpoint(path)
  shapes = reader.get_variable_to_shape_map()
  checkpoint_layers = {int(m.group(1)) for m in map(_LAYER.match, shapes) if m}
  if len(checkpoint_layers) < encoder.num_layers:
    raise CheckpointMismatchError(
        f"{path} has {len(checkpoint_layers)} Transformer layers but the encoder "
        f"needs {encoder.num_layers}; use a config with num_hidden_layers <= "
        f"{len(checkpoint_layers)} or a smaller num_layers_to_keep")
  to_assign, absent = plan_restore(path, encoder=encoder)
  pooler = {v.ref() for v in encoder.pooler.weights} if encoder.pooler else set()
  missing = [v for v in absent if v.ref() not in pooler]
  if missing:
    key = variable_keys(encoder=encoder)[missing[0].ref()]
    raise CheckpointMismatchError(
        f"{path} has no value for {key} (shape {missing[0].shape.as_list()}); "
        "is it a RemBERT checkpoint of this project?")
  for variable, key in to_assign:
    variable.assign(reader.get_tensor(key))
  used = {key for _, key in to_assign}
  left = [k for k in shapes
          if k.endswith(_SUFFIX) and ".OPTIMIZER_SLOT" not in k and k not in used]
  return RestoreReport(
      checkpoint=path,
      restored_variables=len(to_assign),
      layers_in_checkpoint=len(checkpoint_layers),
      layers_restored=encoder.num_layers,
      fresh_pooler=bool(absent),
      left_in_checkpoint=len(left))
