"""Hugging Face RemBERT files in and out.

In: `model.safetensors` (also sharded, with `model.safetensors.index.json`),
`pytorch_model.bin` and `tf_model.h5`, of `RemBertModel` or any `RemBertFor*`
(encoder names prefixed `rembert.`), with their `config.json`. A `classifier.*`
head is RemBertForTokenClassification's when the weights have no pooler (only
RemBertForSequenceClassification classifies the pooled output).
`pytorch_model.bin` is read with `torch.load(weights_only=True)`: PyTorch's
restricted unpickler, which only rebuilds tensors and never runs pickled code.
`tf_model.h5` (transformers <= 4.x Keras weights) is read with h5py, its Keras
names translated to the PyTorch ones.

Out: `model.safetensors` + `config.json` that `transformers` loads as
`RemBertModel`, `RemBertForMaskedLM` (with our MLM head and output embedding),
`RemBertForSequenceClassification`, `RemBertForTokenClassification` or
`RemBertForQuestionAnswering`.
"""

import dataclasses
import json
import os
import pickle
import re
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf import model_folder
from rembert_tf.convert import name_map
from rembert_tf.convert import safetensors_io
from rembert_tf.convert.errors import ConversionError
from rembert_tf.convert.importer import Source
from rembert_tf.convert.manifest import Manifest
from rembert_tf.convert.progress import Progress
from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.config import ConfigError
from rembert_tf.modeling.config import RemBertConfig

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                "pytorch_model.bin", "tf_model.h5")
_ARCHITECTURES = {
    name_map.MASKED_LM: "RemBertForMaskedLM",
    name_map.CLASSIFIER: "RemBertForSequenceClassification",
    name_map.TOKEN_CLASSIFIER: "RemBertForTokenClassification",
    name_map.SPAN_LABELER: "RemBertForQuestionAnswering",
}


def weights_file(path: str) -> str:
  """The weights file of a Hugging Face directory (or `path` itself)."""
  if not os.path.isdir(path):
    if not os.path.exists(path):
      raise ConversionError(f"{path}: no such file or directory")
    return path
  for name in WEIGHT_FILES:
    if os.path.exists(os.path.join(path, name)):
      return os.path.join(path, name)
  raise ConversionError(f"{path}: none of {', '.join(WEIGHT_FILES)} found")


def read_config(path: str) -> tuple[RemBertConfig, Optional[int]]:
  """Our config and the number of labels from a Hugging Face `config.json`.

  Keys that are transformers' runtime settings (output_attentions, id2label,
  ...) carry no weight information and are not part of RemBertConfig.
  """
  directory = path if os.path.isdir(path) else os.path.dirname(path)
  config_path = os.path.join(directory, "config.json")
  try:
    with open(config_path, encoding="utf-8") as f:
      values = json.load(f)
  except FileNotFoundError:
    raise ConversionError(f"{config_path}: not found; pass --config") from None
  except json.JSONDecodeError as e:
    raise ConversionError(f"{config_path}: not valid JSON ({e})") from None
  if values.get("model_type", "rembert") != "rembert":
    raise ConversionError(f"{config_path}: model_type is "
                          f"{values['model_type']!r}, not 'rembert'")
  fields = {f.name for f in dataclasses.fields(RemBertConfig)}
  try:
    config = RemBertConfig.from_dict(
        {k: v for k, v in values.items() if k in fields}, source=config_path)
  except ConfigError as e:
    raise ConversionError(str(e)) from None
  num_labels = len(values["id2label"]) if "id2label" in values else None
  return config, values.get("num_labels", num_labels)


def _h5_to_hf_name(name: str) -> tuple[str, bool]:
  """Keras name of transformers' TFRemBert* -> (PyTorch name, transpose)."""
  name = re.sub(r":\d+$", "", name)
  name = re.sub(r"^rembert/", "", name)
  name = re.sub(r"^mlm___cls/", "cls/", name)
  name = name.replace("layer_._", "layer/")
  parts = name.split("/")
  transpose = parts[-1] == "kernel"
  parts[-1] = {"kernel": "weight", "gamma": "weight", "beta": "bias",
               "embeddings": "weight"}.get(parts[-1], parts[-1])
  return ".".join(parts), transpose


class HuggingFaceSource(Source):
  """One Hugging Face weights file, with PyTorch (`RemBertModel`) names."""

  layout = "hf"

  def __init__(self, path: str):
    super().__init__(weights_file(path))
    self.format_name = os.path.basename(self.path)
    self._readers: dict[str, Any] = {}
    try:
      if self.path.endswith(".safetensors"):
        self._open_safetensors([self.path])
      elif self.path.endswith(".index.json"):
        with open(self.path, encoding="utf-8") as f:
          shards = sorted(set(json.load(f)["weight_map"].values()))
        self._open_safetensors(
            [os.path.join(os.path.dirname(self.path), s) for s in shards])
      elif self.path.endswith(".h5"):
        self._open_h5()
      else:
        self._open_bin()
    except ConversionError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      first_line = str(e).strip().split("\n")[0][:200]
      raise ConversionError(
          f"{self.path}: cannot read ({type(e).__name__}: {first_line}); "
          "truncated, not a weights file, or (pytorch_model.bin) it pickles "
          "more than tensors") from None
    pooler = any(n.removeprefix("rembert.").startswith("pooler.")
                 for n in self._shapes)
    self.excluded_parts = frozenset(
        {name_map.TOKEN_CLASSIFIER if pooler else name_map.CLASSIFIER})

  def _open_safetensors(self, paths: list[str]) -> None:
    self._shapes = {}
    for path in paths:
      reader = safetensors_io.SafetensorsFile(path)
      for name, shape in reader.shapes().items():
        self._shapes[name] = shape
        self._readers[name] = lambda n=name, r=reader: r.read(n)

  def _open_bin(self) -> None:
    """Memory-maps the tensors: listing their shapes reads none of them."""
    import torch  # pylint: disable=g-import-not-at-top
    try:
      state = torch.load(self.path, map_location="cpu", weights_only=True,
                         mmap=True)
    except pickle.UnpicklingError as e:
      # torch's message suggests weights_only=False, which would run the code.
      refused = [line.strip() for line in str(e).splitlines()
                 if "GLOBAL" in line or "Unsupported" in line]
      raise ConversionError(
          f"{self.path}: refused: it pickles more than tensors "
          f"({refused[0] if refused else type(e).__name__}), and "
          "pytorch_model.bin is only read with torch.load(weights_only=True), "
          "which never runs pickled code; use the model's model.safetensors "
          "instead") from None
    self._shapes = {}
    for name, value in state.items():
      self._shapes[name] = list(value.shape)
      self._readers[name] = lambda v=value: v.float().numpy()

  def _open_h5(self) -> None:
    import h5py  # pylint: disable=g-import-not-at-top
    f = h5py.File(self.path, "r")
    self._shapes = {}
    for group_name in f.attrs.get("layer_names", list(f.keys())):
      group = f[_text(group_name)]
      for weight in group.attrs.get("weight_names", []):
        weight = _text(weight)
        name, transpose = _h5_to_hf_name(weight.split("/", 1)[1])
        dataset = group[weight]
        shape = list(dataset.shape)
        self._shapes[name] = shape[::-1] if transpose else shape
        self._readers[name] = (
            lambda d=dataset, t=transpose:
            np.asarray(d, np.float32).T if t else np.asarray(d, np.float32))

  def shapes(self) -> dict[str, list[int]]:
    return self._shapes

  def read(self, name: str) -> np.ndarray:
    try:
      return self._readers[name]()
    except Exception as e:  # pylint: disable=broad-except
      raise ConversionError(f"{self.path}: cannot read {name} ({e})") from None


def _text(value: Any) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else value


def _hf_config(config: RemBertConfig, architecture: str,
               num_labels: Optional[int]) -> dict[str, Any]:
  values = config.to_dict()
  values.update(model_type="rembert", architectures=[architecture],
                dtype="float32")
  if num_labels is not None:
    values["id2label"] = {str(i): f"LABEL_{i}" for i in range(num_labels)}
    values["label2id"] = {f"LABEL_{i}": i for i in range(num_labels)}
  return values


def export_model(model_dir: str, output_dir: str, overwrite: bool = False,
                 show_progress: bool = True) -> Manifest:
  """Writes a pretrained directory as Hugging Face `model.safetensors` + config.

  Raises:
    ConversionError: the directory is not a converted or saved RemBERT model.
  """
  try:
    config = model_folder.read_config(model_dir)
  except ConfigError as e:
    raise ConversionError(str(e)) from None
  try:
    reader = tf.train.load_checkpoint(checkpoints.resolve_checkpoint(model_dir))
  except CheckpointMismatchError as e:
    raise ConversionError(str(e)) from None
  shapes = reader.get_variable_to_shape_map()
  manifest = Manifest(source=model_dir, source_format="rembert_tf",
                      target_format="huggingface_safetensors")
  table = {t.key: t for t in name_map.tensors(config.num_hidden_layers)}
  present = {table[k].row.part for k in shapes if k in table}
  head = next((p for p in _ARCHITECTURES if p in present), None)
  architecture = _ARCHITECTURES.get(head, "RemBertModel")
  num_labels = (shapes[f"{head}/bias" + name_map.CHECKPOINT_SUFFIX][0]
                if head in (name_map.CLASSIFIER, name_map.TOKEN_CLASSIFIER)
                else None)
  entries, sources = [], {}
  for key in sorted(shapes):
    if not key.endswith(name_map.CHECKPOINT_SUFFIX):
      continue
    if name_map.is_training_state(key):
      manifest.skipped_optimizer_state.append(key)  # Training state.
      continue
    tensor = table.get(key)
    if tensor is None:
      manifest.leave(key, shapes[key], "no place in the RemBERT name table")
      continue
    if tensor.row.part == name_map.POOLER and head in (
        name_map.MASKED_LM, name_map.TOKEN_CLASSIFIER, name_map.SPAN_LABELER):
      manifest.leave(key, shapes[key], f"{architecture} has no pooler")
      continue
    name = tensor.hf_name(task_model=head is not None)
    entries.append((name, name_map.source_shape(tensor.row, shapes[key], "hf")))
    sources[name] = tensor
  if head == name_map.MASKED_LM and config.tie_word_embeddings:
    word = table["encoder/embeddings/word_embeddings/embeddings"
                 + name_map.CHECKPOINT_SUFFIX]
    entries.append(("cls.predictions.decoder.weight",
                    shapes[word.key]))
    sources["cls.predictions.decoder.weight"] = word
    manifest.notes.append("tied model: cls.predictions.decoder.weight is a copy "
                          "of the word embeddings")
  constants = {}
  if config.input_embedding_size == config.hidden_size:
    # Hugging Face's RemBERT always projects Ein -> H; ours has no projection
    # then, which is the identity.
    base = "rembert." if head is not None else ""
    constants = {
        f"{base}encoder.embedding_hidden_mapping_in.weight":
            np.eye(config.hidden_size, dtype=np.float32),
        f"{base}encoder.embedding_hidden_mapping_in.bias":
            np.zeros([config.hidden_size], np.float32)}
    entries += [(name, list(value.shape)) for name, value in constants.items()]
    manifest.notes.append("Ein == H: embedding_hidden_mapping_in written as "
                          "the identity")
  progress = Progress(f"exporting {model_dir}", len(entries),
                      sum(4 * int(np.prod(s)) for _, s in entries))

  def value_of(name: str) -> np.ndarray:
    if name in constants:
      return constants[name]
    tensor = sources[name]
    value = name_map.swap_hf(
        tensor.row, name_map.ours_to_canonical(tensor.row,
                                               reader.get_tensor(tensor.key)))
    manifest.place(tensor.key, name, shapes[tensor.key], list(value.shape),
                   tensor.row.transform("ours", "hf"))
    if show_progress:
      progress.update(value.nbytes)
    return value

  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    safetensors_io.write(os.path.join(tmp, "model.safetensors"), entries,
                         value_of, metadata={"format": "pt"})
    with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
      json.dump(_hf_config(config, architecture, num_labels), f, indent=2)
      f.write("\n")
    manifest.write(tmp)
  return manifest
