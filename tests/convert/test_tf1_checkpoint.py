"""The original TF1 checkpoint layout -> our checkpoint, value by value.

The TF1 names and layouts here are written out by hand (not taken from the name
table), so a wrong row in the table fails these tests.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import transformers

from rembert_tf import model_folder

from rembert_tf import pretrained
from rembert_tf.convert import importer
from rembert_tf.convert import tf1_checkpoint
from rembert_tf.convert.__main__ import main
from rembert_tf.convert.errors import ConversionError
from rembert_tf.convert.manifest import MANIFEST_FILE
from tests.conftest import tiny_config

SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def tf1_weights(config, head_scope="cls/predictions/transform",
                output_embedding="cls/predictions/output_embedding", seed=0):
  """Random weights under the original checkpoint's names and [in, out] layout."""
  rng = np.random.default_rng(seed)
  v, e, h = config.vocab_size, config.input_embedding_size, config.hidden_size
  f, o = config.intermediate_size, config.output_embedding_size
  shapes = {
      "bert/embeddings/word_embeddings": [v, e],
      "bert/embeddings/position_embeddings": [config.max_position_embeddings, e],
      "bert/embeddings/token_type_embeddings": [config.type_vocab_size, e],
      "bert/embeddings/LayerNorm/gamma": [e],
      "bert/embeddings/LayerNorm/beta": [e],
      "bert/encoder/embedding_hidden_mapping_in/kernel": [e, h],
      "bert/encoder/embedding_hidden_mapping_in/bias": [h],
      "bert/pooler/dense/kernel": [h, h],
      "bert/pooler/dense/bias": [h],
      f"{head_scope}/dense/kernel": [h, o],
      f"{head_scope}/dense/bias": [o],
      f"{head_scope}/LayerNorm/gamma": [o],
      f"{head_scope}/LayerNorm/beta": [o],
      "cls/predictions/output_bias": [v],
      output_embedding: [v, o],
  }
  for i in range(config.num_hidden_layers):
    layer = f"bert/encoder/layer_{i}"
    for name in ("query", "key", "value"):
      shapes[f"{layer}/attention/self/{name}/kernel"] = [h, h]
      shapes[f"{layer}/attention/self/{name}/bias"] = [h]
    shapes.update({
        f"{layer}/attention/output/dense/kernel": [h, h],
        f"{layer}/attention/output/dense/bias": [h],
        f"{layer}/attention/output/LayerNorm/gamma": [h],
        f"{layer}/attention/output/LayerNorm/beta": [h],
        f"{layer}/intermediate/dense/kernel": [h, f],
        f"{layer}/intermediate/dense/bias": [f],
        f"{layer}/output/dense/kernel": [f, h],
        f"{layer}/output/dense/bias": [h],
        f"{layer}/output/LayerNorm/gamma": [h],
        f"{layer}/output/LayerNorm/beta": [h],
    })
  return {name: rng.normal(size=shape).astype(np.float32)
          for name, shape in shapes.items()}


def write_tf1_checkpoint(prefix, weights, adam_slots=True, extra=None):
  """A name-based checkpoint as TF1's Saver writes it (with Adam slots)."""
  tensors = dict(weights)
  if adam_slots:
    for name, value in weights.items():
      tensors[f"{name}/adam_m"] = np.full_like(value, 7.0)
      tensors[f"{name}/adam_v"] = np.full_like(value, 9.0)
    tensors["global_step"] = np.array(1000, np.int64)
  tensors.update(extra or {})
  names = sorted(tensors)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                    shape_and_slices=[""] * len(names),
                    tensors=[tf.constant(tensors[n]) for n in names])
  return prefix


def expected_values(config, w, head_scope="cls/predictions/transform",
                    output_embedding="cls/predictions/output_embedding"):
  """Our checkpoint key -> value, with the per-head reshapes spelled out."""
  n, d, h = config.num_attention_heads, config.head_size, config.hidden_size
  out = {
      "encoder/embeddings/word_embeddings/embeddings":
          w["bert/embeddings/word_embeddings"],
      "encoder/embeddings/position_embedding/embeddings":
          w["bert/embeddings/position_embeddings"],
      "encoder/embeddings/type_embeddings/embeddings":
          w["bert/embeddings/token_type_embeddings"],
      "encoder/embeddings/layer_norm/gamma": w["bert/embeddings/LayerNorm/gamma"],
      "encoder/embeddings/layer_norm/beta": w["bert/embeddings/LayerNorm/beta"],
      "encoder/embeddings/projection/kernel":
          w["bert/encoder/embedding_hidden_mapping_in/kernel"],
      "encoder/embeddings/projection/bias":
          w["bert/encoder/embedding_hidden_mapping_in/bias"],
      "encoder/pooler/kernel": w["bert/pooler/dense/kernel"],
      "encoder/pooler/bias": w["bert/pooler/dense/bias"],
      "masked_lm/dense/kernel": w[f"{head_scope}/dense/kernel"],
      "masked_lm/dense/bias": w[f"{head_scope}/dense/bias"],
      "masked_lm/layer_norm/gamma": w[f"{head_scope}/LayerNorm/gamma"],
      "masked_lm/layer_norm/beta": w[f"{head_scope}/LayerNorm/beta"],
      "masked_lm/output_bias": w["cls/predictions/output_bias"],
      "masked_lm/output_embedding": w[output_embedding],
  }
  for i in range(config.num_hidden_layers):
    ours, tf1 = f"encoder/transformer_layers/{i}", f"bert/encoder/layer_{i}"
    for name in ("query", "key", "value"):
      kernel = w[f"{tf1}/attention/self/{name}/kernel"]
      out[f"{ours}/_attention_layer/_{name}_dense/kernel"] = np.stack(
          [kernel[:, j * d:(j + 1) * d] for j in range(n)], axis=1)
      out[f"{ours}/_attention_layer/_{name}_dense/bias"] = np.stack(
          [w[f"{tf1}/attention/self/{name}/bias"][j * d:(j + 1) * d]
           for j in range(n)])
    kernel = w[f"{tf1}/attention/output/dense/kernel"]
    out[f"{ours}/_attention_layer/_output_dense/kernel"] = np.stack(
        [kernel[j * d:(j + 1) * d, :] for j in range(n)])
    assert out[f"{ours}/_attention_layer/_output_dense/kernel"].shape == (n, d, h)
    out[f"{ours}/_attention_layer/_output_dense/bias"] = w[
        f"{tf1}/attention/output/dense/bias"]
    for ln_ours, ln_tf1 in (("_attention_layer_norm", "attention/output/LayerNorm"),
                            ("_output_layer_norm", "output/LayerNorm")):
      out[f"{ours}/{ln_ours}/gamma"] = w[f"{tf1}/{ln_tf1}/gamma"]
      out[f"{ours}/{ln_ours}/beta"] = w[f"{tf1}/{ln_tf1}/beta"]
    for dense_ours, dense_tf1 in (("_intermediate_dense", "intermediate/dense"),
                                  ("_output_dense", "output/dense")):
      out[f"{ours}/{dense_ours}/kernel"] = w[f"{tf1}/{dense_tf1}/kernel"]
      out[f"{ours}/{dense_ours}/bias"] = w[f"{tf1}/{dense_tf1}/bias"]
  return out


@pytest.mark.parametrize("head_scope,output_embedding", [
    ("cls/predictions/transform", "cls/predictions/output_embedding"),
    ("cls/predictions", "bert/embeddings/output_embedding"),
], ids=["bert_head_names", "flat_head_names"])
def test_every_value_lands_in_place(tmp_path, head_scope, output_embedding):
  config = tiny_config()
  weights = tf1_weights(config, head_scope, output_embedding)
  unknown = {"bert/encoder/mystery_gate": np.ones([3], np.float32)}
  prefix = write_tf1_checkpoint(str(tmp_path / "model.ckpt-1000"), weights,
                                extra=unknown)
  out = str(tmp_path / "converted")
  manifest = importer.import_model(tf1_checkpoint.TF1CheckpointSource(prefix),
                                   config, out, show_progress=False)

  reader = tf.train.load_checkpoint(model_folder.checkpoint_prefix(out))
  expected = expected_values(config, weights, head_scope, output_embedding)
  written = {k[:-len(SUFFIX)] for k in reader.get_variable_to_shape_map()
             if k.endswith(SUFFIX)}
  assert written == set(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(reader.get_tensor(key + SUFFIX), value,
                                  err_msg=key)

  with open(os.path.join(out, MANIFEST_FILE), encoding="utf-8") as f:
    saved = json.load(f)
  assert saved["unplaced"] == [{"source": "bert/encoder/mystery_gate",
                                "shape": [3],
                                "reason": "no place in the RemBERT name table"}]
  assert len(saved["skipped_optimizer_state"]) == 2 * len(weights) + 1
  assert {p["source"] for p in saved["placed"]} == set(weights)
  query = next(p for p in saved["placed"]
               if p["source"] == "bert/encoder/layer_0/attention/self/query/kernel")
  assert query["transform"] == "reshape_to_heads"
  assert query["target_shape"] == [16, 4, 4]
  assert manifest.placed == saved["placed"]

  # The real MLM head: the pretrainer loads, and its logits are the head's math.
  model = pretrained.from_pretrained(out, "pretrainer")
  inputs = model.dummy_inputs(batch_size=2, seq_length=5)
  hidden = model(inputs)["sequence_output"].numpy()[:, :1]
  dense = hidden @ weights[f"{head_scope}/dense/kernel"] + weights[
      f"{head_scope}/dense/bias"]
  dense = tf.nn.gelu(dense, approximate=False).numpy()
  mean, var = dense.mean(-1, keepdims=True), dense.var(-1, keepdims=True)
  normed = ((dense - mean) / np.sqrt(var + config.layer_norm_eps)
            * weights[f"{head_scope}/LayerNorm/gamma"]
            + weights[f"{head_scope}/LayerNorm/beta"])
  logits = normed @ weights[output_embedding].T + weights[
      "cls/predictions/output_bias"]
  np.testing.assert_allclose(model(inputs)["mlm_logits"].numpy(), logits,
                             atol=1e-4, rtol=1e-4)


def test_without_pooler_and_head_gives_an_encoder(tmp_path):
  config = tiny_config()
  weights = {k: v for k, v in tf1_weights(config).items()
             if k.startswith("bert/") and "pooler" not in k}
  prefix = write_tf1_checkpoint(str(tmp_path / "ckpt"), weights, adam_slots=False)
  out = str(tmp_path / "converted")
  manifest = importer.import_model(tf1_checkpoint.TF1CheckpointSource(prefix),
                                   config, out, show_progress=False)
  keys = tf.train.load_checkpoint(model_folder.checkpoint_prefix(out)
                                  ).get_variable_to_shape_map()
  assert not any(k.startswith(("masked_lm/", "encoder/pooler/")) for k in keys)
  assert "no pooler in the source; the encoder has none" in manifest.notes
  with pytest.raises(Exception, match="no MLM head"):
    pretrained.from_pretrained(out, "pretrainer")


def _convert_cli(prefix, out, config, capsys):
  config_path = os.path.join(os.path.dirname(out), "config.json")
  config.to_json_file(config_path)
  code = main(["tf1", "--input", prefix, "--config", config_path,
               "--output", out])
  return code, capsys.readouterr().err


def test_other_architecture_names_first_mismatch(tmp_path, capsys):
  """A BERT-style checkpoint (no Ein -> H projection, Ein = H)."""
  config = tiny_config()
  bert = tiny_config(input_embedding_size=16, output_embedding_size=16)
  weights = {k: v for k, v in tf1_weights(bert).items()
             if "embedding_hidden_mapping_in" not in k}
  prefix = write_tf1_checkpoint(str(tmp_path / "bert"), weights)
  out = str(tmp_path / "converted")
  code, err = _convert_cli(prefix, out, config, capsys)
  assert code == 1
  assert "bert/embeddings/word_embeddings has shape [61, 16]" in err
  assert "needs [61, 8]" in err
  assert not os.path.exists(out)


def test_config_mismatch_is_an_error(tmp_path, capsys):
  weights = tf1_weights(tiny_config())
  prefix = write_tf1_checkpoint(str(tmp_path / "ckpt"), weights)
  out = str(tmp_path / "converted")
  code, err = _convert_cli(prefix, out, tiny_config(intermediate_size=40), capsys)
  assert code == 1 and "intermediate/dense/kernel has shape [16, 32]" in err
  assert "needs [16, 40]" in err
  code, err = _convert_cli(prefix, out, tiny_config(num_hidden_layers=2), capsys)
  assert code == 1 and "layer 2" in err and "num_hidden_layers=2" in err
  assert not os.path.exists(out)
  with pytest.raises(ConversionError, match="layer_3/attention/self/query"):
    importer.import_model(tf1_checkpoint.TF1CheckpointSource(prefix),
                          tiny_config(num_hidden_layers=4), out)
  assert not os.path.exists(out)


def test_truncated_checkpoint_fails_without_output(tmp_path):
  prefix = write_tf1_checkpoint(str(tmp_path / "ckpt"), tf1_weights(tiny_config()))
  data = prefix + ".data-00000-of-00001"
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  out = str(tmp_path / "converted")
  config_path = str(tmp_path / "config.json")
  tiny_config().to_json_file(config_path)
  result = subprocess.run(
      [sys.executable, "-m", "rembert_tf.convert", "tf1", "--input", prefix,
       "--config", config_path, "--output", out],
      capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
          os.path.dirname(os.path.abspath(__file__)))), check=False)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and prefix in last and "truncated" in last
  assert sorted(os.listdir(tmp_path)) == [  # No output, no temporary dir.
      "ckpt.data-00000-of-00001", "ckpt.index", "config.json"]


def _hf_loader_name(tf1_name):
  """transformers 4.x `load_tf_weights_in_rembert`'s rules, restated by hand.

  bert/ prefix dropped, `layer_N` -> `layer.N`, kernel/gamma -> weight (kernel
  transposed), beta -> bias, a final `*_embeddings` gets `.weight`.
  """
  parts = tf1_name.split("/")[1:]
  transpose = parts[-1] == "kernel"
  parts = [p.replace("layer_", "layer.") if p.startswith("layer_") else p
           for p in parts]
  parts[-1] = {"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(
      parts[-1], parts[-1])
  if parts[-1].endswith("_embeddings"):
    parts.append("weight")
  return ".".join(parts), transpose


def test_tf1_to_hugging_face_follows_hf_own_loader_rules(tmp_path):
  config = tiny_config()
  weights = {k: v for k, v in tf1_weights(config).items()
             if k.startswith("bert/")}
  prefix = write_tf1_checkpoint(str(tmp_path / "ckpt"), weights)
  importer.import_model(tf1_checkpoint.TF1CheckpointSource(prefix), config,
                        str(tmp_path / "ours"), show_progress=False)
  assert main(["hf-export", "--input", str(tmp_path / "ours"),
               "--output", str(tmp_path / "hf")]) == 0
  state = transformers.RemBertModel.from_pretrained(
      str(tmp_path / "hf")).state_dict()
  assert len(state) == len(weights)
  for tf1_name, value in weights.items():
    name, transpose = _hf_loader_name(tf1_name)
    np.testing.assert_array_equal(state[name].numpy(),
                                  value.T if transpose else value,
                                  err_msg=tf1_name)
