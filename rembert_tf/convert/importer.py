"""Source weights (original TF1 or Hugging Face) -> a pretrained model directory.

Every source name is first placed (`plan`: a `--name_map` file, the name table,
then the output embedding by its [V, Eout] shape), and every shape is checked
against the config, before a single value is read. A head that cannot be placed
whole is left out and reported, never the encoder: the conversion fails naming
each such tensor unless `allow_missing_head`. A checkpoint of another
architecture or config fails naming the first mismatching tensor and both
shapes. The model is then built on untouched memory and every value is read and
assigned one tensor at a time, largest first, so peak memory stays near the
model's own size (bench/bench_convert.py: 1.3x for the 995M model), not the
file's; the directory is written atomically with its manifest.
"""

import abc
import dataclasses
import logging
import re
from typing import Optional, Union

import numpy as np
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf import model_folder
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
  # Table parts this source's names never stand for, where two parts share
  # a name (Hugging Face's `classifier.*`: sentence or token classifier).
  excluded_parts: frozenset[str] = frozenset()

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
  if source.layout == "ours":
    return next((t for t in tensor_list if t.key == name), None)
  if source.layout == "hf":
    bare = name[len("rembert."):] if name.startswith("rembert.") else name
    return next((t for t in tensor_list if t.hf == bare), None)
  exact = next((t for t in tensor_list if name in t.tf1[:1]), None)
  return exact or next((t for t in tensor_list if t.matches_tf1(name)), None)


@dataclasses.dataclass(frozen=True)
class Placement:
  """One source tensor and the table tensor it becomes."""
  source: str
  tensor: name_map.Tensor
  found_by: str = "the name table"  # Or "--name_map", "its shape".
  transpose: bool = False  # An output table stored as [Eout, V].

  def transform(self, layout: str) -> str:
    steps = self.tensor.row.transform(layout, "ours")
    if not self.transpose:
      return steps
    return "transpose" if steps == "copy" else f"transpose+{steps}"


@dataclasses.dataclass(frozen=True)
class Unplaced:
  """A source tensor that is not converted, and whether it is a head's."""
  reason: str
  head: bool


@dataclasses.dataclass
class Plan:
  """Where every source tensor goes, decided from names and shapes alone."""
  shapes: dict[str, list[int]]
  placed: dict[str, Placement] = dataclasses.field(default_factory=dict)
  unplaced: dict[str, Unplaced] = dataclasses.field(default_factory=dict)
  optimizer_state: list[str] = dataclasses.field(default_factory=list)
  mismatches: list[str] = dataclasses.field(default_factory=list)
  notes: list[str] = dataclasses.field(default_factory=list)

  def unplaced_heads(self) -> list[str]:
    """`name [shape]` of every unplaced head tensor."""
    return [f"{name} {self.shapes[name]}" for name, u in self.unplaced.items()
            if u.head]


def read_name_map(path: str) -> dict[str, str]:
  """A `--name_map` file: {"original name": "role"}, roles as inspect prints."""
  try:
    values = file_io.read_json(path)
  except (OSError, ValueError) as e:
    raise ConversionError(f"{path}: cannot read the name map ({e})") from None
  if not isinstance(values, dict) or not all(
      isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
    raise ConversionError(
        f"{path}: a name map is a JSON object of original name -> role, e.g. "
        '{"cls/bias": "masked_lm/output_bias"}')
  return values


def _in_encoder_scope(layout: str, name: str) -> bool:
  """Names under the encoder's own scope; anything else belongs to a head."""
  if layout == "tf1":
    return name.startswith("bert/")
  return name.split(".")[0] in ("rembert", "embeddings", "encoder", "pooler")


# The heads a source may carry; a head missing any of its tensors (the output
# bias aside, which is zero then) is left behind as a whole.
_HEADS = {"MLM head": (name_map.MASKED_LM, name_map.OUTPUT_EMBEDDING),
          "classifier": (name_map.CLASSIFIER,),
          "token classifier": (name_map.TOKEN_CLASSIFIER,),
          "span labeler": (name_map.SPAN_LABELER,)}
_OUTPUT_BIAS = "masked_lm/output_bias"
_OUTPUT_EMBEDDING = "masked_lm/output_embedding"


def plan(source: Source, config: RemBertConfig,
         user_map: Optional[dict[str, str]] = None) -> Plan:
  """Places every tensor of `source`, reading names and shapes only.

  Order: `user_map` (original name -> our key), the name table, then the output
  embedding by its shape ([V, Eout], or [Eout, V] transposed) if no name said
  where it is. Heads that are then incomplete are left out whole.

  Raises:
    ConversionError: a `user_map` role that is no tensor of this config, or
      two source tensors for one place.
  """
  tensor_list = [t for t in name_map.tensors(config.num_hidden_layers)
                 if t.row.part not in source.excluded_parts]
  by_role = {t.ours: t for t in tensor_list}
  user_map = user_map or {}
  for name, role in user_map.items():
    if role not in by_role:
      raise ConversionError(
          f"--name_map: {name} -> {role!r}: no such role; roles are our "
          "checkpoint keys as `python -m rembert_tf.convert inspect` prints "
          "them, e.g. masked_lm/output_bias")
  result = Plan(shapes=source.shapes())
  optimizer = (name_map.is_training_state if source.layout == "ours"
               else name_map.is_optimizer_state)
  for name, shape in result.shapes.items():
    if optimizer(name):
      result.optimizer_state.append(name)
      continue
    if name in user_map:
      tensor, found_by = by_role[user_map[name]], "--name_map"
    else:
      tensor, found_by = _find(source, tensor_list, name), "the name table"
    if tensor is None:
      layer = _LAYER_INDEX.search(name)
      if layer and int(layer.group(1)) >= config.num_hidden_layers:
        result.mismatches.append(
            f"{source.path}: {name} belongs to layer {layer.group(1)}, but the "
            f"config has num_hidden_layers={config.num_hidden_layers}; the "
            "config does not match the weights")
      head = source.layout != "ours" and not _in_encoder_scope(
          source.layout, name)
      result.unplaced[name] = Unplaced("no place in the RemBERT name table",
                                       head)
      continue
    if tensor.ours in result.placed:
      raise ConversionError(
          f"{source.path}: both {result.placed[tensor.ours].source} and {name} "
          f"map to {tensor.ours}; cannot tell which one is the model's")
    result.placed[tensor.ours] = Placement(
        name, tensor, found_by, transpose=_is_stored_transposed(
            tensor, shape, config))
  if source.layout != "ours":
    _place_output_embedding_by_shape(result, by_role[_OUTPUT_EMBEDDING], config)
    _leave_incomplete_heads(source, result, tensor_list, config)
  # In table order (embeddings first), so "the first mismatch" means something.
  result.placed = {t.ours: result.placed[t.ours] for t in tensor_list
                   if t.ours in result.placed}
  return result


def _is_stored_transposed(tensor: name_map.Tensor, shape: list[int],
                          config: RemBertConfig) -> bool:
  """An output table stored as [Eout, V] (a Dense kernel), not [V, Eout]."""
  return (tensor.row.part == name_map.OUTPUT_EMBEDDING
          and config.vocab_size != config.output_embedding_size
          and list(shape) == [config.output_embedding_size, config.vocab_size])


def _place_output_embedding_by_shape(result: Plan, tensor: name_map.Tensor,
                                     config: RemBertConfig) -> None:
  """The one unplaced [V, Eout] or [Eout, V] table is the output embedding."""
  if tensor.ours in result.placed:
    return
  v, e = config.vocab_size, config.output_embedding_size
  candidates = [name for name in result.unplaced
                if result.shapes[name] in ([v, e], [e, v])]
  if len(candidates) == 1:
    name = candidates[0]
    del result.unplaced[name]
    result.placed[tensor.ours] = Placement(
        name, tensor, "its shape",
        transpose=_is_stored_transposed(tensor, result.shapes[name], config))
    result.notes.append(f"{name} {result.shapes[name]} is the output embedding "
                        "(recognised by its shape: V = vocab_size)")
  elif candidates:
    for name in candidates:
      result.unplaced[name] = Unplaced(
          f"one of {len(candidates)} [V, Eout] tables "
          f"({', '.join(candidates)}) that could be the output embedding; "
          "name it with --name_map",
          head=True)


def _leave_incomplete_heads(source: Source, result: Plan,
                            tensor_list: list[name_map.Tensor],
                            config: RemBertConfig) -> None:
  """Moves the placed tensors of every incomplete head to `unplaced`."""
  for head, parts in _HEADS.items():
    group = [t for t in tensor_list if t.row.part in parts and not (
        config.tie_word_embeddings and t.ours == _OUTPUT_EMBEDDING)]
    present = [t for t in group if t.ours in result.placed]
    missing = [t for t in group
               if t.ours not in result.placed and t.ours != _OUTPUT_BIAS]
    if not present:
      continue
    if missing:
      names = [t.tf1[0] if source.layout == "tf1" else t.hf for t in missing]
      for t in present:
        name = result.placed.pop(t.ours).source
        result.unplaced[name] = Unplaced(
            f"the {head} is incomplete: no {', '.join(names)}", head=True)
    elif name_map.MASKED_LM in parts and _OUTPUT_BIAS not in result.placed:
      result.notes.append(
          "no output bias in the source: the MLM head scores with a zero bias")


def _parts(config: RemBertConfig, placed: dict[str, Placement]
           ) -> tuple[set[str], set[str]]:
  """The model parts to build, and those of them the source must complete."""
  present = {p.tensor.row.part for p in placed.values()}
  projection = config.input_embedding_size != config.hidden_size
  required = {name_map.ENCODER} | ({name_map.PROJECTION} if projection else set())
  parts = present | required
  if config.tie_word_embeddings:
    parts.discard(name_map.OUTPUT_EMBEDDING)  # Checked against the input table.
  if not projection:
    parts.discard(name_map.PROJECTION)  # Checked to be the identity.
  return parts, required


def _check_complete(source: Source, config: RemBertConfig,
                    placed: dict[str, Placement], parts: set[str],
                    required: set[str]) -> None:
  """Fails on a missing encoder tensor or an incomplete pooler."""
  for tensor in name_map.tensors(config.num_hidden_layers, parts):
    if tensor.ours not in placed and tensor.ours != _OUTPUT_BIAS:
      names = tensor.tf1[:1] if source.layout == "tf1" else (tensor.hf,)
      why = ("it is required" if tensor.row.part in required
             else f"the {tensor.row.part} part is incomplete")
      raise ConversionError(
          f"{source.path}: no tensor {names[0]} (for {tensor.ours}); {why}; "
          "is this a RemBERT checkpoint of this config?")


def _check_shapes(source: Source, placed: dict[str, Placement],
                  keys_to_variables) -> None:
  shapes = source.shapes()
  for key, placement in placed.items():
    variable = keys_to_variables.get(placement.tensor.key)
    if variable is None:  # A part this config has no room for.
      continue
    expected = name_map.source_shape(placement.tensor.row,
                                     variable.shape.as_list(), source.layout)
    if placement.transpose:
      expected = expected[::-1]
    name = placement.source
    if list(shapes[name]) != expected:
      raise ConversionError(
          f"{source.path}: {name} has shape {list(shapes[name])}, but the config "
          f"needs {expected} (for {key}); the weights are of another "
          "architecture or config")


def _read(source: Source, placement: Placement) -> Union[np.ndarray, tf.Tensor]:
  """A source value in the TF1 layout of the table."""
  value = source.read(placement.source)
  if source.layout == "hf":
    value = name_map.swap_hf(placement.tensor.row, value)
  return tf.transpose(value) if placement.transpose else value


def import_model(source: Source, config: RemBertConfig, output_dir: str,
                 num_classes: Optional[int] = None, overwrite: bool = False,
                 show_progress: bool = True, allow_missing_head: bool = False,
                 user_map: Optional[dict[str, str]] = None) -> Manifest:
  """Converts `source` into the pretrained directory `output_dir`.

  Args:
    source: the weights.
    config: their config.
    output_dir: the directory to write (atomically).
    num_classes: the classifier's classes, if known; checked.
    overwrite: replace an existing `output_dir`.
    show_progress: print progress lines.
    allow_missing_head: convert even when head tensors cannot be placed (they
      are left out and reported); the encoder never depends on them.
    user_map: original name -> our key, for names the table does not know.

  Raises:
    ConversionError: unplaceable structure, unplaced head tensors (unless
      `allow_missing_head`), shape mismatch, unreadable file.
  """
  manifest = Manifest(source=source.path, source_format=source.format_name,
                      target_format="rembert_tf")
  result = plan(source, config, user_map)
  if result.mismatches:
    raise ConversionError(result.mismatches[0])
  heads = result.unplaced_heads()
  if heads and not allow_missing_head:
    raise ConversionError(
        f"{source.path}: {len(heads)} head tensor(s) cannot be placed: "
        f"{', '.join(heads)}; the encoder converts without them: add "
        "--allow_missing_head (from_pretrained: any kind but 'pretrainer'), or "
        "place them with --name_map=FILE.json")
  for name, unplaced in result.unplaced.items():
    manifest.leave(name, result.shapes[name], unplaced.reason)
  manifest.skipped_optimizer_state.extend(result.optimizer_state)
  manifest.notes.extend(result.notes)
  placed = result.placed
  parts, required = _parts(config, placed)
  classes = {}  # Head part -> its number of classes.
  for head in (name_map.CLASSIFIER, name_map.TOKEN_CLASSIFIER):
    if f"{head}/bias" in placed:
      classes[head] = result.shapes[placed[f"{head}/bias"].source][0]
      if num_classes is not None and num_classes != classes[head]:
        raise ConversionError(
            f"{source.path}: the classifier has {classes[head]} classes, "
            f"but num_labels is {num_classes}; the config does not match")
  with tf.variable_creator_scope(uninitialized_variables):
    items = model_folder.build_items(
        config, pooler=name_map.POOLER in parts,
        masked_lm=name_map.MASKED_LM in parts,
        num_classes=classes.get(name_map.CLASSIFIER),
        num_token_classes=classes.get(name_map.TOKEN_CLASSIFIER),
        span_labeler=name_map.SPAN_LABELER in parts)
  keys_to_variables = {k: r.deref() for r, k in variable_keys(**items).items()}
  identity = {}
  if config.input_embedding_size == config.hidden_size:
    identity = {k: placed.pop(k) for k in list(placed)
                if placed[k].tensor.row.part == name_map.PROJECTION}
  tied_output = None
  if config.tie_word_embeddings:
    tied_output = placed.pop(_OUTPUT_EMBEDDING, None)
  _check_shapes(source, placed, keys_to_variables)
  _check_complete(source, config, placed, parts, required)
  zero_bias = (name_map.MASKED_LM in parts and _OUTPUT_BIAS not in placed)
  assigned = {p.tensor.key for p in placed.values()}
  if zero_bias:
    assigned.add(_OUTPUT_BIAS + name_map.CHECKPOINT_SUFFIX)
  unassigned = set(keys_to_variables) - assigned
  if unassigned:  # Would write uninitialised memory.
    raise ConversionError(f"{source.path}: no value for {sorted(unassigned)}")
  shapes = result.shapes
  progress = Progress(f"converting {source.path}", len(placed),
                      sum(4 * int(np.prod(shapes[p.source]))
                          for p in placed.values()))
  # Largest first: the model's other variables are still untouched pages then,
  # so the one transient copy of the largest tensor costs no extra peak memory.
  order = sorted(placed, key=lambda k: -int(np.prod(shapes[placed[k].source])))
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    for key in order:
      placement = placed[key]
      variable = keys_to_variables[placement.tensor.key]
      value = _read(source, placement)
      variable.assign(tf.reshape(value, variable.shape))
      del value
      manifest.place(placement.source, placement.tensor.key,
                     shapes[placement.source], variable.shape.as_list(),
                     placement.transform(source.layout))
      if show_progress:
        progress.update(4 * variable.shape.num_elements())
    if zero_bias:
      bias = keys_to_variables[_OUTPUT_BIAS + name_map.CHECKPOINT_SUFFIX]
      bias.assign(tf.zeros_like(bias))
    manifest.placed.sort(key=lambda p: list(placed).index(
        p["target"][:-len(name_map.CHECKPOINT_SUFFIX)]))
    if tied_output:
      _check_tied(source, tied_output, items, manifest)
    if identity:
      _check_identity(source, identity, manifest)
    if name_map.POOLER not in parts:
      manifest.notes.append("no pooler in the source; the encoder has none")
    model_folder.write_model_dir(items, config, tmp)
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


def _check_identity(source: Source, projection: dict[str, Placement],
                    manifest: Manifest) -> None:
  """With Ein == H our model has no projection; the source's must be a no-op.

  (Hugging Face's RemBERT always has one; our exporter writes the identity.)
  """
  for placement in projection.values():
    name = placement.source
    value = np.asarray(source.read(name))
    expected = (np.eye(*value.shape) if placement.tensor.ours.endswith("kernel")
                else np.zeros_like(value))
    if not np.array_equal(value, expected):
      raise ConversionError(
          f"{source.path}: {name} is not the identity, but the config has "
          "input_embedding_size == hidden_size, a model without an embedding "
          "projection; the config does not match the weights")
    manifest.notes.append(f"{name} is the identity (Ein == H); not stored")


def _check_tied(source: Source, placement: Placement, items,
                manifest: Manifest) -> None:
  """A coupled model's output table must be its input table, value for value."""
  name = placement.source
  table = items["encoder"].embeddings.word_embeddings.embeddings
  if not np.array_equal(np.asarray(_read(source, placement)), table.numpy()):
    raise ConversionError(
        f"{source.path}: {name} differs from the word embeddings, but the config "
        "has tie_word_embeddings=true; set it to false for a decoupled model")
  manifest.notes.append(f"{name} equals the word embeddings (tied); not stored twice")
