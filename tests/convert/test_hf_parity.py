"""Parity with transformers' PyTorch RemBERT, both directions, to 1e-5 in float32."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

from rembert_tf import file_io
from rembert_tf import model_folder
from rembert_tf import pretrained
from rembert_tf.convert import huggingface
from rembert_tf.convert import importer
from rembert_tf.convert import name_map
from tests.conftest import tiny_config

TOL = 1e-5
IDS = np.array([[1, 5, 17, 33, 60, 2, 9, 2],
                [1, 44, 3, 2, 0, 0, 0, 0],
                [1, 7, 7, 2, 0, 0, 0, 0]], np.int32)
TYPES = np.array([[0, 0, 0, 0, 0, 0, 1, 1],
                  [0, 0, 1, 1, 0, 0, 0, 0],
                  [0, 0, 0, 0, 0, 0, 0, 0]], np.int32)
COUPLED = dict(tie_word_embeddings=True, output_embedding_size=8)


def _hf(cls, config, seed=0, **kwargs):
  torch.manual_seed(seed)
  model = cls(transformers.RemBertConfig(**config.to_dict(), **kwargs)).eval()
  with torch.no_grad():  # Non-trivial LayerNorms and biases everywhere.
    for name, param in model.named_parameters():
      if name.endswith("bias") or "LayerNorm" in name:
        param.add_(0.1 * torch.randn_like(param))
    if config.tie_word_embeddings and hasattr(model, "cls"):
      model.cls.predictions.decoder.weight.copy_(
          model.rembert.embeddings.word_embeddings.weight)
  return model


def _inputs(padding: bool, token_types: bool) -> dict[str, np.ndarray]:
  mask = (IDS != 0) if padding else np.ones_like(IDS)
  types = TYPES if token_types else np.zeros_like(TYPES)
  return {"input_word_ids": IDS, "input_mask": mask.astype(np.int32),
          "input_type_ids": types}


def _hf_outputs(model, inputs):
  with torch.no_grad():
    return model(input_ids=torch.tensor(inputs["input_word_ids"], dtype=torch.long),
                 attention_mask=torch.tensor(inputs["input_mask"]),
                 token_type_ids=torch.tensor(inputs["input_type_ids"],
                                             dtype=torch.long),
                 output_hidden_states=True)


def _max_diff(ours, theirs) -> float:
  return float(np.max(np.abs(np.asarray(ours) - theirs.numpy())))


def _convert(hf_model, tmp_path, name="ours"):
  hf_dir = str(tmp_path / f"{name}_hf")
  hf_model.save_pretrained(hf_dir)
  config, num_labels = huggingface.read_config(hf_dir)
  out = str(tmp_path / name)
  manifest = importer.import_model(huggingface.HuggingFaceSource(hf_dir), config,
                                   out, num_classes=num_labels,
                                   show_progress=False)
  assert manifest.unplaced == []
  return out


def _check_encoder(ours, theirs, with_pooler=True):
  diffs = {"embedding": _max_diff(ours["embedding_output"],
                                  theirs.hidden_states[0]),
           "sequence": _max_diff(ours["sequence_output"],
                                 theirs.last_hidden_state
                                 if hasattr(theirs, "last_hidden_state")
                                 else theirs.hidden_states[-1])}
  for i, layer in enumerate(ours["encoder_outputs"]):
    diffs[f"layer_{i}"] = _max_diff(layer, theirs.hidden_states[i + 1])
  if with_pooler:
    diffs["pooled"] = _max_diff(ours["pooled_output"], theirs.pooler_output)
  assert len(ours["encoder_outputs"]) == len(theirs.hidden_states) - 1
  assert max(diffs.values()) < TOL, diffs
  return diffs


@pytest.mark.parametrize("padding,token_types", [(False, False), (True, True)])
def test_rembert_model_import_matches_hf(tmp_path, padding, token_types):
  config = tiny_config()
  hf_model = _hf(transformers.RemBertModel, config)
  encoder = pretrained.from_pretrained(_convert(hf_model, tmp_path), "encoder")
  inputs = _inputs(padding, token_types)
  diffs = _check_encoder(encoder(inputs), _hf_outputs(hf_model, inputs))
  print("RemBertModel parity", padding, token_types, diffs)


@pytest.mark.parametrize("changes", [{}, COUPLED], ids=["decoupled", "coupled"])
def test_masked_lm_import_matches_hf(tmp_path, changes):
  config = tiny_config(**changes)
  assert config.input_embedding_size != config.hidden_size
  hf_model = _hf(transformers.RemBertForMaskedLM, config)
  model = pretrained.from_pretrained(_convert(hf_model, tmp_path), "pretrainer")
  inputs = _inputs(padding=True, token_types=True)
  positions = np.tile(np.arange(IDS.shape[1], dtype=np.int32), (len(IDS), 1))
  ours = model(dict(inputs, masked_lm_positions=positions))
  theirs = _hf_outputs(hf_model, inputs)
  _check_encoder(ours, theirs, with_pooler=False)
  mlm = _max_diff(ours["mlm_logits"], theirs.logits)
  print("RemBertForMaskedLM parity", changes, mlm)
  assert mlm < TOL


def test_task_heads_import_match_hf(tmp_path):
  config = tiny_config()
  inputs = _inputs(padding=True, token_types=True)
  hf_cls = _hf(transformers.RemBertForSequenceClassification, config,
               num_labels=3)
  classifier = pretrained.from_pretrained(_convert(hf_cls, tmp_path, "cls"),
                                          "classifier")
  assert classifier.num_classes == 3
  logits = _max_diff(classifier(inputs, training=False)["logits"],
                     _hf_outputs(hf_cls, inputs).logits)
  hf_qa = _hf(transformers.RemBertForQuestionAnswering, config)
  span = pretrained.from_pretrained(_convert(hf_qa, tmp_path, "qa"),
                                    "span_labeler")
  ours, theirs = span(inputs), _hf_outputs(hf_qa, inputs)
  start = _max_diff(ours["start_logits"], theirs.start_logits)
  end = _max_diff(ours["end_logits"], theirs.end_logits)
  assert max(logits, start, end) < TOL, (logits, start, end)


def test_token_classifier_matches_hf_both_ways(tmp_path):
  """RemBertForTokenClassification: its `classifier` head becomes our
  `token_classifier` root (no pooler), and exports back as that class."""
  config = tiny_config()
  inputs = _inputs(padding=True, token_types=True)
  hf_model = _hf(transformers.RemBertForTokenClassification, config,
                 num_labels=5)
  converted = _convert(hf_model, tmp_path, "tokens")
  model = pretrained.from_pretrained(converted, "token_classifier")
  assert model.num_classes == 5 and model.encoder.pooler is None
  logits = model(inputs, training=False)["logits"]
  assert _max_diff(logits, _hf_outputs(hf_model, inputs).logits) < TOL
  with pytest.raises(pretrained.CheckpointMismatchError,
                     match="has no classifier head"):
    pretrained.from_pretrained(converted, "classifier")
  manifest = huggingface.export_model(converted, str(tmp_path / "back"),
                                      show_progress=False)
  assert not manifest.unplaced
  with open(tmp_path / "back" / "config.json", encoding="utf-8") as f:
    assert json.load(f)["architectures"] == ["RemBertForTokenClassification"]
  back = transformers.RemBertForTokenClassification.from_pretrained(
      str(tmp_path / "back")).eval()
  assert _max_diff(logits, _hf_outputs(back, inputs).logits) < TOL


@pytest.mark.parametrize("changes", [{}, COUPLED], ids=["decoupled", "coupled"])
def test_export_loads_in_transformers_and_matches(tmp_path, changes):
  """Reverse direction: our random model -> model.safetensors -> transformers."""
  config = tiny_config(**changes)
  tf.random.set_seed(1)
  items = model_folder.build_items(config, pooler=True, masked_lm=True)
  for variable in items["masked_lm"].weights + items["encoder"].weights:
    if "bias" in variable.name or "beta" in variable.name:
      variable.assign(tf.random.normal(variable.shape, stddev=0.1))
  ours_dir = str(tmp_path / "ours")
  with file_io.atomic_directory(ours_dir) as tmp:
    model_folder.write_model_dir(items, config, tmp)
  manifest = huggingface.export_model(ours_dir, str(tmp_path / "hf"),
                                      show_progress=False)
  assert [u["reason"] for u in manifest.unplaced] == [
      "RemBertForMaskedLM has no pooler"] * 2
  hf_model = transformers.RemBertForMaskedLM.from_pretrained(
      str(tmp_path / "hf")).eval()
  with open(tmp_path / "hf" / "config.json", encoding="utf-8") as f:
    assert json.load(f)["architectures"] == ["RemBertForMaskedLM"]
  model = pretrained.from_pretrained(ours_dir, "pretrainer")
  inputs = _inputs(padding=True, token_types=True)
  positions = np.tile(np.arange(IDS.shape[1], dtype=np.int32), (len(IDS), 1))
  ours = model(dict(inputs, masked_lm_positions=positions))
  theirs = _hf_outputs(hf_model, inputs)
  _check_encoder(ours, theirs, with_pooler=False)
  assert _max_diff(ours["mlm_logits"], theirs.logits) < TOL

  # The encoder-only export carries the pooler into RemBertModel.
  encoder_dir = str(tmp_path / "encoder")
  with file_io.atomic_directory(encoder_dir) as tmp:
    model_folder.write_model_dir({"encoder": items["encoder"]}, config, tmp)
  huggingface.export_model(encoder_dir, str(tmp_path / "hf_base"),
                           show_progress=False)
  base = transformers.RemBertModel.from_pretrained(str(tmp_path / "hf_base"))
  _check_encoder(items["encoder"](inputs), _hf_outputs(base.eval(), inputs))


def test_pytorch_bin_and_tf_h5_import_like_safetensors(tmp_path):
  config = tiny_config()
  hf_model = _hf(transformers.RemBertForMaskedLM, config)
  # The hub's pytorch_model.bin is a torch.save'd state dict (transformers 5
  # only writes safetensors).
  torch.save(hf_model.state_dict(), str(tmp_path / "pytorch_model.bin"))
  state = {k: v.numpy() for k, v in hf_model.state_dict().items()}
  from_bin = huggingface.HuggingFaceSource(str(tmp_path))
  _write_tf_h5(state, str(tmp_path / "tf_model.h5"))
  from_h5 = huggingface.HuggingFaceSource(str(tmp_path / "tf_model.h5"))
  assert set(from_bin.shapes()) == set(state)
  for name, value in state.items():
    np.testing.assert_array_equal(from_bin.read(name), value, err_msg=name)
  # Keras names carry no `rembert.` prefix; the importer accepts both.
  bare = {name.removeprefix("rembert."): value for name, value in state.items()}
  assert set(from_h5.shapes()) == set(bare)
  for name, value in bare.items():
    np.testing.assert_array_equal(from_h5.read(name), value, err_msg=name)
  manifest = importer.import_model(from_h5, config, str(tmp_path / "from_h5"),
                                   show_progress=False)
  assert len(manifest.placed) == len(state) and not manifest.unplaced


def _write_tf_h5(state: dict[str, np.ndarray], path: str) -> None:
  """transformers 4.x `TFRemBertForMaskedLM.save_pretrained` layout (h5py)."""
  import h5py  # pylint: disable=g-import-not-at-top
  groups: dict[str, list[tuple[str, np.ndarray]]] = {}
  for name, value in state.items():
    parts = name.split(".")
    if parts[0] == "rembert":
      group, parts = "rembert", parts[1:]
    else:
      group, parts = "mlm___cls", parts[1:]
    leaf = parts[-1]
    if leaf == "weight" and parts[-2] in ("position_embeddings",
                                          "token_type_embeddings"):
      parts[-1] = "embeddings"
    elif leaf == "weight" and parts[-2] == "LayerNorm":
      parts[-1] = "gamma"
    elif leaf == "bias" and parts[-2] == "LayerNorm":
      parts[-1] = "beta"
    elif leaf == "weight" and parts[-2] not in ("word_embeddings", "decoder"):
      parts[-1], value = "kernel", value.T
    keras = "/".join(parts).replace("layer/", "layer_._")
    prefix = "rembert" if group == "rembert" else "mlm___cls"
    groups.setdefault(group, []).append(
        (f"tf_rem_bert_for_masked_lm/{prefix}/{keras}:0", value))
  with h5py.File(path, "w") as f:
    f.attrs["layer_names"] = [g.encode() for g in groups]
    for group, weights in groups.items():
      g = f.create_group(group)
      g.attrs["weight_names"] = [w.encode() for w, _ in weights]
      for weight, value in weights:
        g.create_dataset(weight, data=value)


def test_every_table_name_exists_in_transformers():
  """The HF side of the name table is exactly transformers' parameter names."""
  config = tiny_config()
  hf_names = set(_hf(transformers.RemBertModel, config).state_dict())
  table = {t.hf for t in name_map.tensors(config.num_hidden_layers)
           if t.row.part in (name_map.ENCODER, name_map.PROJECTION,
                             name_map.POOLER)}
  assert table == hf_names
  mlm_names = set(_hf(transformers.RemBertForMaskedLM, config).state_dict())
  table = {t.hf_name(task_model=True)
           for t in name_map.tensors(config.num_hidden_layers)
           if t.row.part not in (name_map.POOLER, name_map.CLASSIFIER,
                                 name_map.TOKEN_CLASSIFIER,
                                 name_map.SPAN_LABELER)}
  assert table == mlm_names


def test_equal_input_and_hidden_width_uses_an_identity_projection(tmp_path):
  """Ein == H (the coupled mBERT baseline): ours has no projection, HF does."""
  config = tiny_config(input_embedding_size=16, output_embedding_size=16,
                       tie_word_embeddings=True)
  hf_model = _hf(transformers.RemBertForMaskedLM, config)
  with torch.no_grad():
    mapping = hf_model.rembert.encoder.embedding_hidden_mapping_in
    mapping.weight.copy_(torch.eye(16))
    mapping.bias.zero_()
  model = pretrained.from_pretrained(_convert(hf_model, tmp_path), "pretrainer")
  assert model.encoder.embeddings.projection is None
  inputs = _inputs(padding=True, token_types=True)
  positions = np.tile(np.arange(IDS.shape[1], dtype=np.int32), (len(IDS), 1))
  ours = model(dict(inputs, masked_lm_positions=positions))
  theirs = _hf_outputs(hf_model, inputs)
  _check_encoder(ours, theirs, with_pooler=False)
  assert _max_diff(ours["mlm_logits"], theirs.logits) < TOL

  huggingface.export_model(str(tmp_path / "ours"), str(tmp_path / "back"),
                           show_progress=False)
  back = transformers.RemBertForMaskedLM.from_pretrained(str(tmp_path / "back"))
  assert _max_diff(ours["mlm_logits"], _hf_outputs(back.eval(), inputs).logits) < TOL

  with torch.no_grad():
    mapping.bias.add_(0.5)
  with pytest.raises(importer.ConversionError, match="is not the identity"):
    _convert(hf_model, tmp_path, "not_identity")
  assert not (tmp_path / "not_identity").exists()


class _Payload:
  """Unpickling this would run a shell command that writes `marker`."""

  def __init__(self, marker: str):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def test_pytorch_bin_never_runs_pickled_code(tmp_path):
  marker = tmp_path / "pickled_code_ran"
  torch.save({"embeddings.word_embeddings.weight": torch.zeros(2, 2),
              "extra": _Payload(str(marker))},
             str(tmp_path / "pytorch_model.bin"))
  with pytest.raises(importer.ConversionError) as error:
    huggingface.HuggingFaceSource(str(tmp_path))
  assert not marker.exists()
  message = str(error.value)
  assert message.startswith(f"{tmp_path / 'pytorch_model.bin'}: refused: it "
                            "pickles more than tensors")
  assert "posix.system" in message and "weights_only=True" in message
  # The payload is live: an unrestricted unpickler runs it.
  torch.load(str(tmp_path / "pytorch_model.bin"), weights_only=False)
  assert marker.exists()


def test_sharded_safetensors_import(tmp_path):
  config = tiny_config()
  hf_model = _hf(transformers.RemBertForMaskedLM, config)
  hf_model.save_pretrained(str(tmp_path / "hf"), max_shard_size="20KB")
  assert (tmp_path / "hf" / "model.safetensors.index.json").exists()
  source = huggingface.HuggingFaceSource(str(tmp_path / "hf"))
  state = hf_model.state_dict()
  assert set(source.shapes()) == set(state)
  for name, value in state.items():
    np.testing.assert_array_equal(source.read(name), value.numpy(), err_msg=name)
