"""Load and save RemBERT models in one call: `from_pretrained` / `save_pretrained`.

A pretrained model is a directory with the released-style `config.json` and an
object-based TF checkpoint `model.ckpt` whose roots are the model's parts:
`encoder` (always; with `encoder/pooler` when it has one), and optionally
`masked_lm` (the MLM head with the decoupled output embedding), `classifier` or
`span_labeler`. The checkpoint describes itself: loading looks at which parts
it holds, so no other metadata is needed. The converters write the same layout.
"""

import logging
import os
from typing import Optional, Union

import tensorflow as tf
import tf_keras

from rembert_tf import file_io
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.checkpoints import variable_keys
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.mlm_head import RemBertMaskedLM
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from rembert_tf.modeling.task_models import classifier_layer
from rembert_tf.modeling.task_models import RemBertClassifier
from rembert_tf.modeling.task_models import RemBertSpanLabeler
from rembert_tf.modeling.task_models import span_layer

CONFIG_FILE = "config.json"
CHECKPOINT_NAME = "model.ckpt"
KINDS = ("encoder", "pretrainer", "classifier", "span_labeler")

Model = Union[RemBertEncoder, RemBertPretrainer, RemBertClassifier,
              RemBertSpanLabeler]


def checkpoint_prefix(path: str) -> str:
  """Where `save_pretrained` writes the checkpoint of directory `path`."""
  return os.path.join(path, CHECKPOINT_NAME)


def find_checkpoint(path: str) -> str:
  """`model.ckpt` of a pretrained directory, else its latest training checkpoint.

  So a training run's model_dir (config.json + ckpt-N with optimizer state)
  loads as it is.
  """
  prefix = checkpoint_prefix(path)
  if tf.io.gfile.exists(prefix + ".index"):
    return prefix
  if tf.io.gfile.isdir(path) and tf.train.latest_checkpoint(path):
    return tf.train.latest_checkpoint(path)
  raise CheckpointMismatchError(
      f"{path} is not a pretrained RemBERT directory: it has neither "
      f"{CHECKPOINT_NAME}.index nor a training checkpoint (convert released "
      "weights with `python -m rembert_tf.convert`)")


def read_config(path: str) -> RemBertConfig:
  return RemBertConfig.from_json_file(os.path.join(path, CONFIG_FILE))


def build_items(config: RemBertConfig, *, pooler: bool,
                masked_lm: bool = False, num_classes: Optional[int] = None,
                span_labeler: bool = False) -> dict[str, tf_keras.layers.Layer]:
  """Builds (initialised) checkpoint roots for any combination of parts.

  The converters use this: a source may hold a pooler *and* an MLM head (the
  original checkpoint), which no single training model has.
  """
  encoder = RemBertEncoder(config, add_pooling_layer=pooler, name="encoder")
  encoder(encoder.dummy_inputs())
  items = {"encoder": encoder}
  hidden = tf.zeros([1, 1, config.hidden_size])
  if masked_lm:
    head = RemBertMaskedLM(
        config, input_embedding_layer=encoder.embeddings.word_embeddings,
        name="masked_lm")
    head(hidden, tf.zeros([1, 1], tf.int32))
    items["masked_lm"] = head
  if num_classes is not None:
    items["classifier"] = classifier_layer(config, num_classes)
    items["classifier"](hidden)
  if span_labeler:
    items["span_labeler"] = span_layer(config)
    items["span_labeler"](hidden)
  return items


def write_model_dir(items: dict[str, tf_keras.layers.Layer],
                    config: RemBertConfig, directory: str) -> None:
  """Writes `config.json` and `model.ckpt` into an existing directory."""
  config.to_json_file(os.path.join(directory, CONFIG_FILE))
  tf.train.Checkpoint(**items).write(checkpoint_prefix(directory))


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
    write_model_dir(items, model.config, tmp)


def _checkpoint_shapes(path: str) -> dict[str, list[int]]:
  return tf.train.load_checkpoint(find_checkpoint(path)
                                  ).get_variable_to_shape_map()


def restore_items(items: dict[str, tf_keras.layers.Layer], path: str,
                  optional: frozenset[str] = frozenset()) -> list[str]:
  """Assigns every variable of `items` from `path`'s checkpoint, one at a time.

  All keys and shapes are checked before the first assignment. Variables under
  a root in `optional` may be missing (they keep their fresh initial values).

  Returns:
    The checkpoint keys that were missing and left freshly initialised.
  Raises:
    CheckpointMismatchError: naming the first missing key or both shapes.
  """
  shapes = _checkpoint_shapes(path)
  prefix = find_checkpoint(path)
  planned, fresh = [], []
  for ref, key in variable_keys(**items).items():
    variable = ref.deref()
    if key not in shapes:
      if key.split("/")[0] in optional or "/pooler/" in key:
        fresh.append(key)
        continue
      raise CheckpointMismatchError(
          f"{prefix}: no value for {key} (shape {variable.shape.as_list()}); "
          "it was saved from another kind of model or config")
    if list(shapes[key]) != variable.shape.as_list():
      raise CheckpointMismatchError(
          f"{prefix}: {key} has shape {list(shapes[key])} in the checkpoint but "
          f"{variable.shape.as_list()} in the model ({CONFIG_FILE} does not "
          "match the weights)")
    planned.append((variable, key))
  reader = tf.train.load_checkpoint(prefix)
  for variable, key in planned:
    variable.assign(reader.get_tensor(key))
  if fresh:
    logging.warning("%s: freshly initialised (not in the checkpoint): %s",
                    path, ", ".join(fresh))
  return fresh


def from_pretrained(path: str, kind: str = "encoder", *,
                    num_classes: Optional[int] = None,
                    add_pooling_layer: bool = True) -> Model:
  """Loads a converted or trained model directory as `kind`.

  Args:
    path: a directory written by `save_pretrained` or `python -m
      rembert_tf.convert`, or a training run's model_dir (its latest
      checkpoint; optimizer state is left behind).
    kind: "encoder" (RemBertEncoder), "pretrainer" (RemBertPretrainer; needs
      the MLM head), "classifier" (RemBertClassifier) or "span_labeler"
      (RemBertSpanLabeler).
    num_classes: for "classifier": the number of classes. Needed when the
      checkpoint has no classifier head (a fresh one is created); when it has
      one, it must agree (by default, the checkpoint's count is used).
    add_pooling_layer: for "encoder": build the pooler (fresh if absent).

  Raises:
    CheckpointMismatchError: the checkpoint lacks a required part or a shape
      differs from the config; ValueError: an unknown kind.
  """
  if kind not in KINDS:
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
  config = read_config(path)
  shapes = _checkpoint_shapes(path)
  roots = {key.split("/")[0] for key in shapes}
  optional = frozenset()
  if kind == "encoder":
    model = RemBertEncoder(config, add_pooling_layer=add_pooling_layer)
  elif kind == "pretrainer":
    if "masked_lm" not in roots:
      raise CheckpointMismatchError(
          f"{path} has no MLM head (masked_lm), so it cannot be loaded as a "
          "pretrainer; google/rembert's Hugging Face files ship without it, the "
          "original TF checkpoint has it")
    model = RemBertPretrainer(config)
  elif kind == "classifier":
    key = "classifier/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    if key in shapes:
      num_classes = num_classes or shapes[key][-1]
    elif num_classes is None:
      raise CheckpointMismatchError(
          f"{path} has no classifier head; pass num_classes to start a fresh one")
    else:
      optional = frozenset({"classifier"})
    model = RemBertClassifier(config, num_classes)
  else:
    optional = frozenset({"span_labeler"})
    model = RemBertSpanLabeler(config)
  model(model.dummy_inputs())
  items = getattr(model, "checkpoint_items", {"encoder": model})
  restore_items(items, path, optional)
  return model
