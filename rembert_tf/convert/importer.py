"""Source weights (original TF1 or Hugging Face) -> a pretrained model directory.

Every source name is first placed through the name table, and every shape is
checked against the config, before a single value is read: a checkpoint of
another architecture or config fails naming the first mismatching tensor and both
shapes. The model is then built on untouched memory and every value is read and
assigned one tensor at a time, largest first, so peak memory stays near the
model's own size (bench/bench_convert.py: 1.3x for the 995M model), not the
file's; the directory is written atomically with its manifest.
"""

import abc
import logging
import re
from typing import Optional, Union

import numpy as np
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf import pretrained
from rembert_tf.convert import name_map
from rembert_tf.convert.errors import ConversionError
from rembert_tf.convert.manifest import Manifest
from rembert_tf.convert.progress import Progress
from rembert_tf.modeling.checkpoints import variable_keys
from rembert_tf.modeling.config import RemBertConfig

_LAYER_INDEX = re.compile(r"layer(?:_|\.|_\._)(\d+)[/.]")


class Source(abc.ABC):
  """A file of named tensors, read one at a time."""

  layout: str  # "tf1" or "hf": which names of the table it uses.
  format_name: str

  def __init__(self, path: str):
    self.path = path

  @abc.abstractmethod
  def shapes(self) -> dict[str, list[int]]:
    """Every tensor's name and shape, without reading values."""

  @abc.abstractmethod
  def read(self, name: str) -> Union[np.ndarray, tf.Tensor]:
    """One tensor's value as float32."""


def _find(source: Source, tensor_list: list[name_map.Tensor],
          name: str) -> Optional[name_map.Tensor]:
  if source.layout == "hf":
    bare = name[len("rembert."):] if name.startswith("rembert.") else name
    return next((t for t in tensor_list if t.hf == bare), None)
  exact = next((t for t in tensor_list if name in t.tf1[:1]), None)
  return exact or next((t for t in tensor_list if t.matches_tf1(name)), None)


def _place(source: Source, config: RemBertConfig, manifest: Manifest
           ) -> dict[str, tuple[str, name_map.Tensor]]:
  """Maps our key -> (source name, table tensor); records the rest."""
  tensor_list = list(name_map.tensors(config.num_hidden_layers))
  placed: dict[str, tuple[str, name_map.Tensor]] = {}
  for name, shape in source.shapes().items():
    if source.layout == "tf1" and name_map.is_optimizer_state(name):
      manifest.skipped_optimizer_state.append(name)
      continue
    tensor = _find(source, tensor_list, name)
    if tensor is None:
      layer = _LAYER_INDEX.search(name)
      if layer and int(layer.group(1)) >= config.num_hidden_layers:
        raise ConversionError(
            f"{source.path}: {name} belongs to layer {layer.group(1)}, but the "
            f"config has num_hidden_layers={config.num_hidden_layers}; the "
            "config does not match the weights")
      manifest.leave(name, shape, "no place in the RemBERT name table")
      continue
    if tensor.ours in placed:
      raise ConversionError(
          f"{source.path}: both {placed[tensor.ours][0]} and {name} map to "
          f"{tensor.ours}; cannot tell which one is the model's")
    placed[tensor.ours] = (name, tensor)
  # In table order (embeddings first), so "the first mismatch" means something.
  return {t.ours: placed[t.ours] for t in tensor_list if t.ours in placed}


def _parts(source: Source, config: RemBertConfig,
           placed: dict[str, tuple[str, name_map.Tensor]]
           ) -> tuple[set[str], set[str]]:
  """The model parts to build, and those of them the source must complete."""
  present = {t.row.part for _, t in placed.values()}
  projection = config.input_embedding_size != config.hidden_size
  required = {name_map.ENCODER} | ({name_map.PROJECTION} if projection else set())
  if name_map.MASKED_LM in present and not config.tie_word_embeddings:
    required.add(name_map.OUTPUT_EMBEDDING)
  parts = present | required
  if config.tie_word_embeddings:
    parts.discard(name_map.OUTPUT_EMBEDDING)  # Checked against the input table.
  if not projection:
    parts.discard(name_map.PROJECTION)  # Checked to be the identity.
  return parts, required


def _check_complete(source: Source, config: RemBertConfig, placed,
                    parts: set[str], required: set[str]) -> None:
  """Fails on a missing required tensor or an incomplete optional part."""
  for tensor in name_map.tensors(config.num_hidden_layers, parts):
    if tensor.ours not in placed:
      names = tensor.tf1[:1] if source.layout == "tf1" else (tensor.hf,)
      why = ("it is required" if tensor.row.part in required
             else f"the {tensor.row.part} part is incomplete")
      raise ConversionError(
          f"{source.path}: no tensor {names[0]} (for {tensor.ours}); {why}; "
          "is this a RemBERT checkpoint of this config?")


def _check_shapes(source: Source, placed, keys_to_variables) -> None:
  shapes = source.shapes()
  for key, (name, tensor) in placed.items():
    variable = keys_to_variables.get(tensor.key)
    if variable is None:  # A part this config has no room for.
      continue
    expected = name_map.source_shape(tensor.row, variable.shape.as_list(),
                                     source.layout)
    if list(shapes[name]) != expected:
      raise ConversionError(
          f"{source.path}: {name} has shape {list(shapes[name])}, but the config "
          f"needs {expected} (for {key}); the weights are of another "
          "architecture or config")


def import_model(source: Source, config: RemBertConfig, output_dir: str,
                 num_classes: Optional[int] = None, overwrite: bool = False,
                 show_progress: bool = True) -> Manifest:
  """Converts `source` into the pretrained directory `output_dir`.

  Raises:
    ConversionError: unplaceable structure, shape mismatch, unreadable file.
  """
  manifest = Manifest(source=source.path, source_format=source.format_name,
                      target_format="rembert_tf")
  placed = _place(source, config, manifest)
  parts, required = _parts(source, config, placed)
  if "classifier/bias" in placed:
    classifier_shape = source.shapes()[placed["classifier/bias"][0]]
    if num_classes is not None and num_classes != classifier_shape[0]:
      raise ConversionError(
          f"{source.path}: the classifier has {classifier_shape[0]} classes, "
          f"but num_labels is {num_classes}; the config does not match")
    num_classes = classifier_shape[0]
  with tf.variable_creator_scope(uninitialized_variables):
    items = pretrained.build_items(
        config, pooler=name_map.POOLER in parts,
        masked_lm=name_map.MASKED_LM in parts,
        num_classes=num_classes if "classifier/bias" in placed else None,
        span_labeler=name_map.SPAN_LABELER in parts)
  keys_to_variables = {k: r.deref() for r, k in variable_keys(**items).items()}
  identity = {}
  if config.input_embedding_size == config.hidden_size:
    identity = {k: placed.pop(k) for k in list(placed)
                if placed[k][1].row.part == name_map.PROJECTION}
  tied_output = None
  if config.tie_word_embeddings:
    tied_output = placed.pop("masked_lm/output_embedding", None)
  _check_shapes(source, placed, keys_to_variables)
  _check_complete(source, config, placed, parts, required)
  unassigned = set(keys_to_variables) - {t.key for _, t in placed.values()}
  if unassigned:  # Would write uninitialised memory.
    raise ConversionError(f"{source.path}: no value for {sorted(unassigned)}")
  shapes = source.shapes()
  progress = Progress(f"converting {source.path}", len(placed),
                      sum(4 * int(np.prod(shapes[n])) for n, _ in placed.values()))
  # Largest first: the model's other variables are still untouched pages then,
  # so the one transient copy of the largest tensor costs no extra peak memory.
  order = sorted(placed, key=lambda k: -int(np.prod(shapes[placed[k][0]])))
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    for key in order:
      name, tensor = placed[key]
      variable = keys_to_variables[tensor.key]
      value = source.read(name)
      if source.layout == "hf":
        value = name_map.swap_hf(tensor.row, value)
      variable.assign(tf.reshape(value, variable.shape))
      del value
      manifest.place(name, tensor.key, shapes[name], variable.shape.as_list(),
                     tensor.row.transform(source.layout, "ours"))
      if show_progress:
        progress.update(4 * variable.shape.num_elements())
    manifest.placed.sort(key=lambda p: list(placed).index(
        p["target"][:-len(name_map.CHECKPOINT_SUFFIX)]))
    if tied_output:
      _check_tied(source, tied_output[0], items, manifest)
    if identity:
      _check_identity(source, identity, manifest)
    if name_map.POOLER not in parts:
      manifest.notes.append("no pooler in the source; the encoder has none")
    pretrained.write_model_dir(items, config, tmp)
    manifest.write(tmp)
  logging.info("wrote %s (%d tensors placed, %d unplaced, %d optimizer slots "
               "skipped)", output_dir, len(manifest.placed),
               len(manifest.unplaced), len(manifest.skipped_optimizer_state))
  return manifest


def uninitialized_variables(next_creator, **kwargs) -> tf.Variable:
  """Creates variables on uninitialised memory: every one is assigned next.

  Random initialisation would touch (and, for the truncated normal, transiently
  triple) every page of a model that is overwritten anyway; untouched pages
  cost no resident memory until their value is assigned.
  """
  shape, dtype = kwargs.get("shape"), kwargs.get("dtype")
  if shape is not None and shape.is_fully_defined() and dtype is not None:
    kwargs["initial_value"] = lambda: tf.raw_ops.Empty(
        shape=shape, dtype=tf.as_dtype(dtype), init=False)
  return next_creator(**kwargs)


def _check_identity(source: Source, projection, manifest: Manifest) -> None:
  """With Ein == H our model has no projection; the source's must be a no-op.

  (Hugging Face's RemBERT always has one; our exporter writes the identity.)
  """
  for name, tensor in projection.values():
    value = np.asarray(source.read(name))
    expected = (np.eye(*value.shape) if tensor.ours.endswith("kernel")
                else np.zeros_like(value))
    if not np.array_equal(value, expected):
      raise ConversionError(
          f"{source.path}: {name} is not the identity, but the config has "
          "input_embedding_size == hidden_size, a model without an embedding "
          "projection; the config does not match the weights")
    manifest.notes.append(f"{name} is the identity (Ein == H); not stored")


def _check_tied(source: Source, name: str, items, manifest: Manifest) -> None:
  """A coupled model's output table must be its input table, value for value."""
  table = items["encoder"].embeddings.word_embeddings.embeddings
  if not np.array_equal(np.asarray(source.read(name)), table.numpy()):
    raise ConversionError(
        f"{source.path}: {name} differs from the word embeddings, but the config "
        "has tie_word_embeddings=true; set it to false for a decoupled model")
  manifest.notes.append(f"{name} equals the word embeddings (tied); not stored twice")
