"""Heads the name table does not know never block the encoder; `inspect`.

Head spellings beyond the table (where the original checkpoint's names are
unpublished) convert by role and shape, `--name_map` places the rest, and
whatever stays unplaced is named with its shape: the conversion fails unless
`--allow_missing_head`, which converts the encoder alone.
"""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
import torch
import transformers

from rembert_tf import model_folder

from rembert_tf import pretrained
from rembert_tf.convert import huggingface
from rembert_tf.convert.__main__ import main
from rembert_tf.convert.manifest import MANIFEST_FILE
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from tests.conftest import tiny_config
from tests.convert.test_hf_parity import _write_tf_h5
from tests.convert.test_tf1_checkpoint import expected_values
from tests.convert.test_tf1_checkpoint import tf1_weights
from tests.convert.test_tf1_checkpoint import write_tf1_checkpoint

SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
TABLE = "cls/predictions/output_embedding"  # The spelling the table knows.
BIAS = "cls/predictions/output_bias"
CONFIG = tiny_config()  # V = 61, Eout = 24.


def _checkpoint(tmp_path, rename=None, transpose=False, drop=(), extra=None):
  """TF1 weights with the output table renamed (and stored [Eout, V])."""
  weights = tf1_weights(CONFIG)
  table = weights.pop(TABLE)
  weights[rename or TABLE] = table.T if transpose else table
  for name in drop:
    del weights[name]
  weights.update(extra or {})
  prefix = write_tf1_checkpoint(str(tmp_path / "ckpt"), weights)
  CONFIG.to_json_file(str(tmp_path / "config.json"))
  return prefix, weights, table


def _convert(prefix, out, capsys, *flags):
  code = main(["tf1", "--input", prefix, "--config",
               os.path.join(os.path.dirname(prefix), "config.json"),
               "--output", out, *flags])
  return code, capsys.readouterr().err


def _values(out):
  reader = tf.train.load_checkpoint(model_folder.checkpoint_prefix(out))
  return {k[:-len(SUFFIX)]: reader.get_tensor(k)
          for k in reader.get_variable_to_shape_map() if k.endswith(SUFFIX)}


@pytest.mark.parametrize("name,transpose", [
    ("bert/output_embedding_table", False),
    ("cls/predictions/output_embedding/kernel", True),
    ("cls/predictions/output_weights", False),
    ("cls/predictions/output_weights", True),
], ids=["bert_table", "dense_kernel", "output_weights", "stored_eout_v"])
def test_output_embedding_is_recognised_by_role_and_shape(
    tmp_path, capsys, name, transpose):
  prefix, weights, table = _checkpoint(tmp_path, name, transpose)
  out = str(tmp_path / "out")
  code, err = _convert(prefix, out, capsys)
  assert code == 0, err
  values = _values(out)
  np.testing.assert_array_equal(values["masked_lm/output_embedding"], table)
  np.testing.assert_array_equal(values["masked_lm/output_bias"], weights[BIAS])
  with open(os.path.join(out, MANIFEST_FILE), encoding="utf-8") as f:
    manifest = json.load(f)
  placed = next(p for p in manifest["placed"] if p["source"] == name)
  assert placed["transform"] == ("transpose" if transpose else "copy")
  assert manifest["unplaced"] == []
  assert any("recognised by its shape" in n for n in manifest["notes"])


def test_a_head_without_output_bias_scores_with_zero_bias(tmp_path, capsys):
  prefix, weights, table = _checkpoint(
      tmp_path, "cls/predictions/output_weights", drop=[BIAS])
  out = str(tmp_path / "out")
  code, err = _convert(prefix, out, capsys)
  assert code == 0, err
  values = _values(out)
  np.testing.assert_array_equal(values["masked_lm/output_bias"],
                                np.zeros([CONFIG.vocab_size], np.float32))
  np.testing.assert_array_equal(values["masked_lm/output_embedding"], table)
  model = pretrained.from_pretrained(out, "pretrainer")
  assert model(model.dummy_inputs())["mlm_logits"].shape == (1, 1, 61)


def test_unplaced_head_tensors_need_the_flag_and_never_block_the_encoder(
    tmp_path, capsys):
  # Two [V, Eout] tables: neither can be told to be the output embedding, so
  # the head is incomplete; a mystery head tensor is unknown besides.
  mystery = {"cls/predictions/mystery": np.ones([3], np.float32)}
  prefix, weights, _ = _checkpoint(
      tmp_path, "cls/predictions/output_weights",
      extra={"cls/predictions/other_table": np.ones([61, 24], np.float32),
             **mystery})
  out = str(tmp_path / "out")
  code, err = _convert(prefix, out, capsys)
  assert code == 1 and not os.path.exists(out)
  assert "add --allow_missing_head" in err and "--name_map=FILE.json" in err
  head = [n for n in weights if n.startswith("cls/")]
  for name in head:  # Every head tensor, with its shape.
    assert f"{name} {list(weights[name].shape)}" in err, name

  code, err = _convert(prefix, out, capsys, "--allow_missing_head")
  assert code == 0
  assert "warning: " in err and "cls/predictions/mystery [3]" in err
  values = _values(out)
  assert not any(k.startswith("masked_lm/") for k in values)
  expected = expected_values(CONFIG, {**weights, TABLE: weights[
      "cls/predictions/output_weights"]})
  for key, value in values.items():
    np.testing.assert_array_equal(value, expected[key], err_msg=key)
  with open(os.path.join(out, MANIFEST_FILE), encoding="utf-8") as f:
    unplaced = {u["source"]: u for u in json.load(f)["unplaced"]}
  assert set(unplaced) == set(head)
  assert unplaced[BIAS]["reason"] == (
      "the MLM head is incomplete: no cls/predictions/output_embedding")
  assert "one of 2 [V, Eout] tables" in unplaced[
      "cls/predictions/other_table"]["reason"]
  encoder = pretrained.from_pretrained(out, "encoder")
  assert encoder(encoder.dummy_inputs())["sequence_output"].shape == (1, 2, 16)


def test_name_map_places_names_the_table_does_not_know(tmp_path, capsys):
  weights = tf1_weights(CONFIG)
  odd = {"lm_head/table_v2": weights.pop(TABLE).T,
         "lm_head/logit_shift": weights.pop(BIAS)}
  prefix = write_tf1_checkpoint(str(tmp_path / "ckpt"), {**weights, **odd})
  CONFIG.to_json_file(str(tmp_path / "config.json"))
  name_map = tmp_path / "names.json"
  name_map.write_text(json.dumps({
      "lm_head/table_v2": "masked_lm/output_embedding",
      "lm_head/logit_shift": "masked_lm/output_bias"}))
  out = str(tmp_path / "out")
  code, err = _convert(prefix, out, capsys, f"--name_map={name_map}")
  assert code == 0, err
  values = _values(out)
  np.testing.assert_array_equal(values["masked_lm/output_embedding"],
                                odd["lm_head/table_v2"].T)
  np.testing.assert_array_equal(values["masked_lm/output_bias"],
                                odd["lm_head/logit_shift"])
  name_map.write_text(json.dumps({"lm_head/logit_shift": "masked_lm/bias"}))
  code, err = _convert(prefix, str(tmp_path / "other"), capsys,
                       f"--name_map={name_map}")
  assert code == 1 and "'masked_lm/bias': no such role" in err


def _inspect(path, capsys, *flags):
  """{name: "shape  role"} of every listed tensor, and all lines."""
  assert main(["inspect", "--input", str(path), *flags]) == 0
  lines = capsys.readouterr().out.splitlines()
  rows = [re.fullmatch(r"(\S+) +(\[[\d, ]*\]) +(.+)", line)
          for line in lines[1:]]
  return {r.group(1): f"{r.group(2)}  {r.group(3)}" for r in rows if r}, lines


def test_inspect_tf1_reads_the_index_only(tmp_path, capsys):
  prefix, weights, _ = _checkpoint(
      tmp_path, "cls/predictions/output_weights", transpose=True,
      extra={"cls/predictions/mystery": np.ones([3], np.float32)})
  os.remove(prefix + ".data-00000-of-00001")  # No value can be read.
  rows, lines = _inspect(tmp_path, capsys)
  assert len(rows) == 3 * len(weights) + 1  # Adam slots and global_step too.
  layer = rows["bert/encoder/layer_2/attention/self/query/kernel"]
  assert ("[16, 16]  encoder -> encoder/transformer_layers/2/_attention_layer/"
          "_query_dense/kernel (reshape_to_heads)") in layer
  assert ("[24, 61]  output_embedding -> masked_lm/output_embedding "
          "(transpose; placed by its shape)") in rows[
              "cls/predictions/output_weights"]
  assert "[3]  unplaced: no place in the RemBERT name table" in rows[
      "cls/predictions/mystery"]
  assert "training state (skipped)" in rows["global_step"]
  assert "training state (skipped)" in rows[f"{BIAS}/adam_m"]
  assert "converting needs --allow_missing_head" in lines[-1]
  assert "cls/predictions/mystery [3]" in lines[-1]


def _hf_mlm():
  torch.manual_seed(0)
  return transformers.RemBertForMaskedLM(
      transformers.RemBertConfig(**CONFIG.to_dict())).eval()


@pytest.mark.parametrize("layout", ["safetensors", "sharded", "bin", "h5"])
def test_inspect_hugging_face_files(tmp_path, capsys, monkeypatch, layout):
  model = _hf_mlm()
  folder = tmp_path / "hf"
  if layout in ("safetensors", "sharded"):
    model.save_pretrained(str(folder), max_shard_size=(
        "20KB" if layout == "sharded" else "1GB"))
  else:
    model.config.save_pretrained(str(folder))
    state = model.state_dict()
    if layout == "bin":
      torch.save(state, str(folder / "pytorch_model.bin"))
    else:
      _write_tf_h5({k: v.numpy() for k, v in state.items()},
                   str(folder / "tf_model.h5"))
  assert os.path.basename(huggingface.weights_file(str(folder))) == {
      "safetensors": "model.safetensors", "bin": "pytorch_model.bin",
      "h5": "tf_model.h5", "sharded": "model.safetensors.index.json"}[layout]
  loads = []
  real_load = torch.load
  monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(k) or
                      real_load(*a, **k))
  monkeypatch.setattr(huggingface.HuggingFaceSource, "read",
                      lambda self, name: pytest.fail(f"read {name}"))
  rows, lines = _inspect(folder, capsys)
  names = {n.removeprefix("rembert.") if layout == "h5" else n
           for n in model.state_dict()}
  assert set(rows) == names
  assert "[61, 24]  output_embedding -> masked_lm/output_embedding" in rows[
      "cls.predictions.decoder.weight"]
  query = ("rembert." if layout != "h5" else "") + (
      "encoder.layer.0.attention.self.query.weight")
  assert "[16, 16]  encoder -> encoder/transformer_layers/0/" in rows[query]
  assert lines[-1] == (f"{len(names)} tensors: {len(names)} placed, "
                       "0 unplaced, 0 training state")
  if layout == "bin":
    assert loads == [dict(map_location="cpu", weights_only=True, mmap=True)]


def test_inspect_our_folders(tmp_path, capsys):
  model = RemBertPretrainer(CONFIG)
  pretrained.save_pretrained(model, str(tmp_path / "saved"))
  rows, _ = _inspect(tmp_path / "saved", capsys)
  assert "[61, 24]  output_embedding" in rows[
      f"masked_lm/output_embedding{SUFFIX}"]
  assert "training state (skipped)" in rows["_CHECKPOINTABLE_OBJECT_GRAPH"]

  optimizer = tf_keras.optimizers.Adam(1e-3)
  inputs = model.dummy_inputs()
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(model(inputs, training=True)["mlm_logits"])
  optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
  run_dir = tmp_path / "run"
  tf.train.CheckpointManager(
      tf.train.Checkpoint(optimizer=optimizer, **model.checkpoint_items),
      str(run_dir), max_to_keep=1).save(checkpoint_number=3)
  CONFIG.to_json_file(str(run_dir / "config.json"))
  for name in os.listdir(run_dir):
    if ".data-" in name:
      os.remove(run_dir / name)  # The index alone is read.
  rows, lines = _inspect(run_dir, capsys)
  assert lines[0].startswith(f"{run_dir / 'ckpt-3'}: rembert_tf")
  word = rows[f"encoder/embeddings/word_embeddings/embeddings{SUFFIX}"]
  assert "[61, 8]  encoder" in word
  slots = [r for n, r in rows.items() if n.startswith("optimizer/")]
  assert slots and all(r.endswith("training state (skipped)") for r in slots)
