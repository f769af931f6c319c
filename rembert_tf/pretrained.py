"""Load and save RemBERT models in one call: `from_pretrained` / `save_pretrained`.

Our folders are `model_folder`'s format (`config.json` + `model.ckpt`, or a
training run's model_dir); `from_pretrained` also takes the converters' inputs
(Hugging Face folders, the original TF1 checkpoint) and converts them on the
fly.
"""

import logging
import os
import tempfile
from typing import Optional, Union

import tensorflow as tf
import tf_keras

from rembert_tf import file_io
from rembert_tf import model_folder
from rembert_tf.convert import sources
from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from rembert_tf.modeling.task_models import RemBertClassifier
from rembert_tf.modeling.task_models import RemBertSpanLabeler
from rembert_tf.modeling.task_models import RemBertTokenClassifier

KINDS = ("encoder", "pretrainer", "classifier", "token_classifier",
         "span_labeler")
# The kinds with a head of `num_classes`: their checkpoint root and model.
_LABELLED = {"classifier": RemBertClassifier,
             "token_classifier": RemBertTokenClassifier}

Model = Union[RemBertEncoder, RemBertPretrainer, RemBertClassifier,
              RemBertTokenClassifier, RemBertSpanLabeler]


def save_pretrained(model: Model, path: str, overwrite: bool = False) -> None:
  """Saves any RemBERT model so that `from_pretrained(path, kind)` reloads it.

  Written atomically: a temporary directory, renamed when complete.
  """
  items = (model.checkpoint_items if hasattr(model, "checkpoint_items")
           else {"encoder": model})
  for item in items.values():
    if not item.built:
      model(model.dummy_inputs())
      break
  with file_io.atomic_directory(path, overwrite) as tmp:
    model_folder.write_model_dir(items, model.config, tmp)


def _checkpoint_shapes(path: str) -> dict[str, list[int]]:
  return tf.train.load_checkpoint(checkpoints.resolve_checkpoint(path)
                                  ).get_variable_to_shape_map()


def from_pretrained(path: str, kind: str = "encoder", *,
                    num_classes: Optional[int] = None,
                    add_pooling_layer: bool = True) -> Model:
  """Loads a model as `kind` from our folders or from released weights.

  Args:
    path: a directory written by `save_pretrained` or `python -m
      rembert_tf.convert`, a training run's model_dir (its latest checkpoint;
      optimizer state is left behind), a Hugging Face folder (config.json +
      model.safetensors, sharded safetensors, pytorch_model.bin or
      tf_model.h5), or an original TF1 checkpoint directory with its
      config.json. The last two are converted on the fly into a temporary
      directory, removed afterwards; nothing is written beside them.
    kind: "encoder" (RemBertEncoder), "pretrainer" (RemBertPretrainer; needs
      the MLM head), "classifier" (RemBertClassifier), "token_classifier"
      (RemBertTokenClassifier) or "span_labeler" (RemBertSpanLabeler). Only "pretrainer" fails on head tensors that
      cannot be placed; the other kinds leave them behind with a warning.
    num_classes: for "classifier" and "token_classifier": the number of
      classes. Needed when the checkpoint has no such head (a fresh one is
      created); when it has one, it must agree (by default, the checkpoint's
      count is used).
    add_pooling_layer: for "encoder": build the pooler (fresh if absent).

  Raises:
    CheckpointMismatchError: the checkpoint lacks a required part or a shape
      differs from the config; ConversionError: released weights that cannot
      be converted; ValueError: an unknown kind.
  """
  if kind not in KINDS:
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
  source_kind = sources.detect(path)
  if source_kind == sources.OURS:
    return _load(path, kind, num_classes, add_pooling_layer, path)
  with tempfile.TemporaryDirectory(prefix="rembert_tf_convert_") as tmp:
    converted = os.path.join(tmp, "model")
    sources.convert(path, converted, source_kind,
                    allow_missing_head=kind != "pretrainer")
    return _load(converted, kind, num_classes, add_pooling_layer,
                 f"{path} (converted from {source_kind})")


def _load(path: str, kind: str, num_classes: Optional[int],
          add_pooling_layer: bool, name: str) -> Model:
  """`from_pretrained` of our folder `path`; messages say `name`."""
  config = model_folder.read_config(path)
  shapes = _checkpoint_shapes(path)
  roots = {key.split("/")[0] for key in shapes}
  optional = frozenset()
  if kind == "encoder":
    model = RemBertEncoder(config, add_pooling_layer=add_pooling_layer)
  elif kind == "pretrainer":
    if "masked_lm" not in roots:
      raise CheckpointMismatchError(
          f"{name} has no MLM head (masked_lm), so it cannot be loaded as a "
          "pretrainer; google/rembert's Hugging Face files ship without it, the "
          "original TF checkpoint has it")
    model = RemBertPretrainer(config)
  elif kind in _LABELLED:
    key = f"{kind}/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    if key in shapes:
      num_classes = num_classes or shapes[key][-1]
    elif num_classes is None:
      raise CheckpointMismatchError(
          f"{name} has no {kind} head; pass num_classes to start a fresh one")
    else:
      optional = frozenset({kind})
    model = _LABELLED[kind](config, num_classes)
  else:
    optional = frozenset({"span_labeler"})
    model = RemBertSpanLabeler(config)
  model(model.dummy_inputs())
  items = getattr(model, "checkpoint_items", {"encoder": model})
  report = checkpoints.restore(items, path, optional)
  if report.fresh:
    logging.warning("%s: freshly initialised (not in the checkpoint): %s",
                    name, ", ".join(report.fresh))
  return model
