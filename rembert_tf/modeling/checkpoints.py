"""The one restore path: checkpoint -> model variables, every shape checked first.

Everything that loads weights goes through `restore`: fine-tuning's encoder
(`restore_encoder`), `from_pretrained`, continued pre-training from
`--init_checkpoint`, and the check before a training run resumes. It pairs each
variable of the model's roots (`encoder`, `masked_lm`, `classifier`,
`span_labeler`) with the key TensorFlow saved it under, checks every key and
shape before the first assignment (so a mismatch never leaves a half-restored
model), then reads one tensor at a time, so memory stays near the model's own
size.

Layer dropping needs nothing special here (paper section 6.2): a fine-tuning
config with k layers (`RemBertConfig.for_finetuning`) builds an encoder whose
variables are the first k layers' keys, and the deeper layers, the output
embedding and the MLM head simply stay in the file. A pooler missing from the
checkpoint (MLM-only pre-training has none) starts fresh.

`checkpoint_candidates` lists a training directory's checkpoints newest first
from the files themselves and removes what a killed save left behind; the
trainer resumes from the newest one that reads back completely and says which
it skipped and why.
"""

import collections
import dataclasses
import glob
import os
import re
import shutil
from typing import Iterable, Optional

from absl import logging
import tensorflow as tf

SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
PRETRAINED_CHECKPOINT = "model.ckpt"
_LAYER = re.compile(r"^encoder/transformer_layers/(\d+)/")
_NUMBERED = re.compile(r"-(\d+)$")


class CheckpointMismatchError(ValueError):
  """The checkpoint does not fit the model; the message says where."""


@dataclasses.dataclass(frozen=True)
class RestoreReport:
  """What a restore did, for the log."""
  checkpoint: str
  restored_variables: int
  layers_in_checkpoint: int
  layers_restored: int
  fresh: tuple[str, ...]  # Keys absent from the checkpoint, left initialised.
  left_in_checkpoint: int  # Model variables of the file this model has not.

  @property
  def fresh_pooler(self) -> bool:
    return any("/pooler" in key for key in self.fresh)


def _numbered_checkpoints(directory: str) -> list[str]:
  """`ckpt-N` prefixes with an index file, newest (largest N) first."""
  prefixes = [p[:-len(".index")] for p in
              tf.io.gfile.glob(os.path.join(directory, "*-*.index"))]
  numbered = [p for p in prefixes if _NUMBERED.search(p)]
  return sorted(numbered, key=lambda p: int(_NUMBERED.search(p).group(1)),
                reverse=True)


# What reading a truncated or partly deleted checkpoint raises.
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError)


def describe(error: BaseException) -> str:
  """The first line of a read error, short enough for a log line."""
  return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def remove_temporaries(directory: str) -> list[str]:
  """Deletes what a killed save leaves: `ckpt-N_temp/` and `checkpoint.tmp*`.

  Only local directories (an object store has no such leftovers to clean).
  """
  if "://" in directory or not os.path.isdir(directory):
    return []
  leftovers = (glob.glob(os.path.join(directory, "*_temp")) +
               glob.glob(os.path.join(directory, "checkpoint.tmp*")))
  for path in leftovers:
    if os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
    else:
      os.remove(path)
  if leftovers:
    logging.warning("%s: removed what an interrupted checkpoint save left: %s",
                    directory, ", ".join(map(os.path.basename, leftovers)))
  return leftovers


def checkpoint_candidates(directory: str) -> list[str]:
  """A training directory's checkpoints, newest first, found by their files.

  The files, not only the `checkpoint` state file, so that a kill while the
  state file was rewritten does not hide a newer complete checkpoint. Leftovers
  of an interrupted save are removed first.
  """
  if not tf.io.gfile.isdir(directory):
    return []
  remove_temporaries(directory)
  return _numbered_checkpoints(directory)


def latest_checkpoint(directory: str) -> Optional[str]:
  """The newest checkpoint of a training directory, or None."""
  candidates = checkpoint_candidates(directory)
  return candidates[0] if candidates else None


def resolve_checkpoint(path: str) -> str:
  """A checkpoint prefix from a prefix, a pretrained directory (`model.ckpt`)
  or a training directory (its newest complete checkpoint)."""
  if tf.io.gfile.isdir(path):
    pretrained = os.path.join(path, PRETRAINED_CHECKPOINT)
    if tf.io.gfile.exists(pretrained + ".index"):
      return pretrained
    latest = latest_checkpoint(path)
    if latest is None:
      raise CheckpointMismatchError(
          f"no checkpoint found in directory {path} (neither "
          f"{PRETRAINED_CHECKPOINT}.index nor a complete ckpt-N; convert "
          "released weights with `python -m rembert_tf.convert`)")
    return latest
  if not tf.io.gfile.exists(path + ".index"):
    raise CheckpointMismatchError(
        f"checkpoint not found: {path} (expected {path}.index; pass a "
        "checkpoint prefix such as model_dir/ckpt-1000 or its directory)")
  return path


def variable_keys(**roots: tf.Module) -> dict[object, str]:
  """Maps each variable's `ref()` to its key in `tf.train.Checkpoint(**roots)`.

  Keys are the breadth-first attribute paths TensorFlow itself writes, so a
  shared variable (the coupled input/output table) gets the single key it is
  saved under.
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
        keys[child.ref()] = prefix + name + SUFFIX
      else:
        queue.append((child, prefix + name + "/"))
  return keys


def _is_model_key(key: str) -> bool:
  return key.endswith(SUFFIX) and ".OPTIMIZER_SLOT" not in key and not (
      key.startswith(("optimizer/", "train_iterator", "save_counter")))


def plan_restore(path: str, roots: dict[str, tf.Module],
                 optional: Iterable[str] = ()
                 ) -> tuple[list[tuple[tf.Variable, str]], list[str]]:
  """Pairs each variable of `roots` with its key in the checkpoint at `path`.

  Args:
    path: a checkpoint prefix.
    roots: the model's checkpoint roots (`model.checkpoint_items`).
    optional: roots whose variables may be absent (they stay initialised);
      a pooler may always be absent.

  Returns:
    The (variable, key) pairs to assign, and the absent keys.

  Raises:
    CheckpointMismatchError: naming the first key whose shape differs (with
      both shapes) or that is missing, before anything is assigned.
  """
  shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  optional = frozenset(optional)
  present, absent = [], []
  for ref, key in variable_keys(**roots).items():
    variable = ref.deref()
    if key not in shapes:
      if key.split("/")[0] in optional or "/pooler" in key:
        absent.append(key)
        continue
      raise CheckpointMismatchError(
          f"{path} has no value for {key} (shape {variable.shape.as_list()}); "
          "it was saved from another kind of model or config")
    if list(shapes[key]) != variable.shape.as_list():
      raise CheckpointMismatchError(
          f"{path}: {key} has shape {list(shapes[key])} in the checkpoint but "
          f"{variable.shape.as_list()} in the model; the checkpoint was "
          "written for another config")
    present.append((variable, key))
  return present, absent


def restore(roots: dict[str, tf.Module], path: str,
            optional: Iterable[str] = ()) -> RestoreReport:
  """Restores every variable of `roots` from `path`, checked before assigned.

  Args:
    roots: the model's checkpoint roots, built (their variables exist).
    path: a checkpoint prefix or directory (see `resolve_checkpoint`).
    optional: roots that may be absent from the checkpoint.

  Raises:
    CheckpointMismatchError: a missing checkpoint or variable, or a shape
      mismatch (both shapes named); nothing has been assigned then.
  """
  path = resolve_checkpoint(path)
  reader = tf.train.load_checkpoint(path)
  shapes = reader.get_variable_to_shape_map()
  layers = {int(m.group(1)) for m in map(_LAYER.match, shapes) if m}
  encoder = roots.get("encoder")
  needed = len(encoder.transformer_layers) if encoder is not None else 0
  if needed > len(layers):
    raise CheckpointMismatchError(
        f"{path} has {len(layers)} Transformer layers but the encoder needs "
        f"{needed}; use a config with num_hidden_layers <= {len(layers)} or a "
        "smaller --num_layers_to_keep")
  present, absent = plan_restore(path, roots, optional)
  try:
    for variable, key in present:
      variable.assign(reader.get_tensor(key))
  except READ_ERRORS as e:
    raise CheckpointMismatchError(
        f"{path} is truncated or corrupt ({describe(e)}); pass an earlier "
        "checkpoint, or write this one again") from None
  used = {key for _, key in present}
  return RestoreReport(
      checkpoint=path, restored_variables=len(present),
      layers_in_checkpoint=len(layers), layers_restored=needed,
      fresh=tuple(absent),
      left_in_checkpoint=sum(1 for k in shapes
                             if _is_model_key(k) and k not in used))


def restore_encoder(encoder: tf.Module, path: str) -> RestoreReport:
  """Restores `encoder` (building it first) from a pre-training, encoder or
  fine-tuned checkpoint; the output embedding and any head stay behind."""
  if not encoder.built:
    encoder(encoder.dummy_inputs())
  return restore({"encoder": encoder}, path)
