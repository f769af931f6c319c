"""Which weights a path holds, what each tensor becomes, and converting it.

Three kinds of input are told apart by their files alone, reading no tensor
data and writing nothing beside them:
  huggingface  a folder (or file) with model.safetensors (also sharded),
               pytorch_model.bin or tf_model.h5, and its config.json;
  tf1          the original name-based TF1 checkpoint (`bert/...` names);
  rembert_tf   our object-based checkpoints: a pretrained folder (model.ckpt)
               or a training run's model_dir (ckpt-N), both with config.json.
A TF checkpoint is ours when its index holds an object graph, which only
object-based (TF2) checkpoints write.

`inspect` lists every tensor with its shape and the role the converter gives
it, from headers only: the TF checkpoint index, the safetensors headers (and
the shards' index), h5py's dataset shapes, and for pytorch_model.bin a
memory-mapped `torch.load(weights_only=True, mmap=True)`, which maps the
tensors' storage without reading it.
"""

import os
from typing import Optional

import numpy as np
import tensorflow as tf

from rembert_tf import model_folder
from rembert_tf.convert import huggingface
from rembert_tf.convert import importer
from rembert_tf.convert import tf1_checkpoint
from rembert_tf.convert.errors import ConversionError
from rembert_tf.convert.manifest import Manifest
from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.config import RemBertConfig

OURS, HUGGING_FACE, TF1 = "rembert_tf", "huggingface", "tf1"
_OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
_HF_SUFFIXES = (".safetensors", ".index.json", ".bin", ".h5")


class OurCheckpoint(importer.Source):
  """Our object-based checkpoint (pretrained folder or training model_dir)."""

  layout = "ours"
  format_name = "rembert_tf"

  def __init__(self, path: str):
    try:
      super().__init__(checkpoints.resolve_checkpoint(path))
    except CheckpointMismatchError as e:
      raise ConversionError(str(e)) from None
    self._reader = tf.train.load_checkpoint(self.path)

  def shapes(self) -> dict[str, list[int]]:
    return {k: list(v)
            for k, v in self._reader.get_variable_to_shape_map().items()}

  def read(self, name: str) -> np.ndarray:
    return self._reader.get_tensor(name)


def _tf_checkpoint(path: str) -> Optional[str]:
  """Some TF checkpoint prefix at `path`, found without writing anything."""
  if tf.io.gfile.exists(path + ".index"):
    return path
  if not tf.io.gfile.isdir(path):
    return None
  indexes = sorted(tf.io.gfile.glob(os.path.join(path, "*.index")))
  return indexes[0][:-len(".index")] if indexes else None


def detect(path: str) -> str:
  """OURS, HUGGING_FACE or TF1; OURS when nothing is recognised (loading our
  folders then says what is missing)."""
  if os.path.isdir(path):
    if any(os.path.exists(os.path.join(path, name))
           for name in huggingface.WEIGHT_FILES):
      return HUGGING_FACE
  elif path.endswith(_HF_SUFFIXES) and os.path.isfile(path):
    return HUGGING_FACE
  prefix = _tf_checkpoint(path)
  if prefix is None:
    return OURS
  try:
    keys = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
  except (tf.errors.OpError, ValueError) as e:
    raise ConversionError(
        f"{prefix}: cannot read the checkpoint index (truncated or not a TF "
        f"checkpoint): {checkpoints.describe(e)}") from None
  return OURS if _OBJECT_GRAPH in keys else TF1


def open_source(path: str, kind: str) -> importer.Source:
  """The reader of `path` for `kind` (as `detect` names it)."""
  if kind == HUGGING_FACE:
    return huggingface.HuggingFaceSource(path)
  if kind == TF1:
    return tf1_checkpoint.TF1CheckpointSource(path)
  return OurCheckpoint(path)


def _config_path(path: str) -> str:
  directory = path if os.path.isdir(path) else os.path.dirname(path)
  return os.path.join(directory, model_folder.CONFIG_FILE)


def read_config(path: str, kind: str) -> tuple[RemBertConfig, Optional[int],
                                               str]:
  """The config beside the weights, its number of labels and its path."""
  config_path = _config_path(path)
  if kind == HUGGING_FACE:
    return (*huggingface.read_config(path), config_path)
  return (model_folder.read_config(os.path.dirname(config_path)), None,
          config_path)


def convert(path: str, output_dir: str, kind: str, *,
            config: Optional[RemBertConfig] = None, overwrite: bool = False,
            allow_missing_head: bool = False,
            user_map: Optional[dict[str, str]] = None) -> Manifest:
  """Converts TF1 or Hugging Face (`kind`) weights into the pretrained folder
  `output_dir`; `config` defaults to the config.json beside them."""
  source = open_source(path, kind)
  num_labels = None
  if config is None:
    config, num_labels, _ = read_config(path, kind)
  return importer.import_model(
      source, config, output_dir, num_classes=num_labels, overwrite=overwrite,
      allow_missing_head=allow_missing_head, user_map=user_map)


def _role(placement: Optional[importer.Placement],
          unplaced: Optional[importer.Unplaced], layout: str) -> str:
  if unplaced is not None:
    return f"unplaced: {unplaced.reason}"
  if placement is None:
    return "training state (skipped)"
  role = placement.tensor.row.part
  if layout == "ours":
    return role
  details = [placement.transform(layout)]
  if details[0] == "copy":
    details = []
  if placement.found_by != "the name table":
    details.append(f"placed by {placement.found_by}")
  return (f"{role} -> {placement.tensor.ours}" +
          (f" ({'; '.join(details)})" if details else ""))


def inspect(path: str, config: Optional[RemBertConfig] = None,
            user_map: Optional[dict[str, str]] = None) -> list[str]:
  """The report of `python -m rembert_tf.convert inspect`, line by line.

  `config` defaults to the config.json beside the weights, and for a TF1
  checkpoint without one to the released RemBERT config.
  """
  kind = detect(path)
  source = open_source(path, kind)
  config_path = "the given config"
  if config is None:
    if kind == TF1 and not os.path.exists(_config_path(path)):
      config = RemBertConfig()
      config_path = "the released RemBERT config (no config.json beside it)"
    else:
      config, _, config_path = read_config(path, kind)
  plan = importer.plan(source, config, user_map)
  by_source = {p.source: p for p in plan.placed.values()}
  names = sorted(plan.shapes)
  width = max((len(n) for n in names), default=0)
  shape_width = max((len(str(plan.shapes[n])) for n in names), default=0)
  lines = [f"{source.path}: {source.format_name}, roles for {config_path}"]
  lines += [f"{n:{width}}  {str(plan.shapes[n]):{shape_width}}  "
            f"{_role(by_source.get(n), plan.unplaced.get(n), source.layout)}"
            for n in names]
  lines.append(f"{len(names)} tensors: {len(plan.placed)} placed, "
               f"{len(plan.unplaced)} unplaced, {len(plan.optimizer_state)} "
               "training state")
  lines += [f"note: {note}" for note in plan.notes] + plan.mismatches
  heads = plan.unplaced_heads()
  if heads:
    lines.append(f"converting needs --allow_missing_head (the encoder converts "
                 f"without these head tensors) or --name_map: "
                 f"{', '.join(heads)}")
  return lines
