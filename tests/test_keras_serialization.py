"""Keras-native saving: each model round-trips through load_model in a new process.

The models are saved here, in both formats (`.keras` and SavedModel), and loaded
by one child process, so nothing the saving process registered or built helps
the load; the child snapshots what it loaded and this process compares.
"""

import collections
import json
import os
import pickle
import subprocess
import sys
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import rembert_tf
from rembert_tf.modeling import encoder as encoder_lib
from tests.conftest import ROOT
from tests.conftest import tiny_config

_CONFIG = tiny_config(num_hidden_layers=2)  # Two layers: saving traces each.
_TIED = _CONFIG.replace(tie_word_embeddings=True, output_embedding_size=8)
_CLASSES = {"encoder": "RemBertEncoder", "pretrainer": "RemBertPretrainer",
            "pretrainer_tied": "RemBertPretrainer",
            "pretrainer_bfloat16": "RemBertPretrainer",
            "classifier": "RemBertClassifier",
            "span_labeler": "RemBertSpanLabeler",
            "token_classifier": "RemBertTokenClassifier"}
_ENCODER_OUTPUTS = {"sequence_output", "embedding_output"} | {
    f"encoder_outputs/{i}" for i in range(_CONFIG.num_hidden_layers)}
# Every output each case computes: all of them are compared.
_OUTPUTS = {
    "encoder": _ENCODER_OUTPUTS | {"pooled_output"},
    "pretrainer": _ENCODER_OUTPUTS | {"mlm_logits"},
    "pretrainer_tied": _ENCODER_OUTPUTS | {"mlm_logits"},
    "pretrainer_bfloat16": _ENCODER_OUTPUTS | {"mlm_logits"},
    "classifier": {"logits"},
    "span_labeler": {"start_logits", "end_logits"},
    "token_classifier": {"logits"},
}
_FORMATS = ("keras", "savedmodel")


def _policy(case: str) -> str:
  return "mixed_bfloat16" if case.endswith("bfloat16") else "float32"


def _build(case: str) -> tf_keras.layers.Layer:
  """A new, unbuilt model (under the case's policy, which the caller sets)."""
  if case == "encoder":
    return rembert_tf.RemBertEncoder(_CONFIG, name="encoder")
  if case == "pretrainer_tied":
    return rembert_tf.RemBertPretrainer(_TIED)
  if case.startswith("pretrainer"):
    return rembert_tf.RemBertPretrainer(_CONFIG)
  if case == "classifier":
    return rembert_tf.RemBertClassifier(_CONFIG, num_classes=3)
  if case == "token_classifier":
    return rembert_tf.RemBertTokenClassifier(_CONFIG, num_classes=5)
  return rembert_tf.RemBertSpanLabeler(_CONFIG)


def _inputs(case: str) -> dict[str, tf.Tensor]:
  """Two padded sequences with both token types."""
  ids = tf.constant([[1, 7, 8, 9, 2, 0], [1, 10, 11, 2, 12, 2]])
  inputs = {"input_word_ids": ids, "input_mask": tf.cast(ids > 0, tf.int32),
            "input_type_ids": tf.constant([[0] * 6, [0, 0, 0, 0, 1, 1]])}
  if case.startswith("pretrainer"):
    inputs["masked_lm_positions"] = tf.constant([[2, 3], [1, 4]])
  return inputs


def _snapshot(case: str, model: tf_keras.layers.Layer) -> dict[str, Any]:
  """What a round trip must keep: class, outputs, weights, dtypes, the tie."""
  outputs = {}
  for key, value in model(_inputs(case)).items():
    named = ({f"{key}/{i}": v for i, v in enumerate(value)}
             if isinstance(value, list) else {key: value})
    # bfloat16 as float32, which numpy computes with.
    outputs.update(
        {k: tf.cast(t, tf.float32).numpy() for k, t in named.items()})
  layers = list(model._flatten_layers())  # pylint: disable=protected-access
  tied = None
  if isinstance(model, rembert_tf.RemBertPretrainer):
    tied = (model.masked_lm.scoring_table is
            model.encoder.embeddings.word_embeddings.embeddings)
  return {
      "class": type(model).__name__,
      "isinstance": isinstance(model, getattr(rembert_tf, _CLASSES[case])),
      "outputs": outputs,
      # Read after the call: a layer that builds on its first call would
      # otherwise show its restored values, not the ones it computes with.
      "weights": {w.name: w.numpy() for w in model.weights},
      "layers": [(type(l).__name__, l.dtype_policy.name) for l in layers],
      "tied": tied,
  }


def _save(model: tf_keras.layers.Layer, path: str, save_format: str) -> None:
  if save_format == "keras":
    tf_keras.models.save_model(model, path + ".keras")
  elif isinstance(model, tf_keras.Model):
    tf_keras.models.save_model(model, path)
  else:  # SavedModel saves Models only: the encoder layer goes in a wrapper.
    inputs = {k: tf_keras.Input(shape=(None,), dtype=tf.int32, name=k)
              for k in _inputs("encoder")}
    tf_keras.models.save_model(tf_keras.Model(inputs, model(inputs)), path)


def load_and_snapshot(directory: str) -> None:
  """The child process: loads every saved model and pickles its snapshot."""
  for case in _CLASSES:
    for save_format in _FORMATS:
      path = os.path.join(directory, f"{case}.{save_format}")
      tf_keras.mixed_precision.set_global_policy(_policy(case))
      model = tf_keras.models.load_model(
          path + ".keras" if save_format == "keras" else path)
      if case == "encoder" and save_format == "savedmodel":
        model = model.get_layer("encoder")
      with open(path + ".pkl", "wb") as f:
        pickle.dump(_snapshot(case, model), f)
  tf_keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory) -> dict[tuple[str, str], tuple]:
  """(case, format) -> (snapshot before saving, snapshot after loading)."""
  directory = str(tmp_path_factory.mktemp("saved"))
  originals = {}
  try:
    for case in _CLASSES:
      tf_keras.mixed_precision.set_global_policy(_policy(case))
      model = _build(case)
      originals[case] = _snapshot(case, model)
      for save_format in _FORMATS:
        _save(model, os.path.join(directory, f"{case}.{save_format}"),
              save_format)
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  subprocess.run(
      [sys.executable, "-c",
       "import sys; from tests.test_keras_serialization import "
       "load_and_snapshot; load_and_snapshot(sys.argv[1])", directory],
      cwd=ROOT, check=True)
  loaded = {}
  for case in _CLASSES:
    for save_format in _FORMATS:
      path = os.path.join(directory, f"{case}.{save_format}.pkl")
      with open(path, "rb") as f:
        loaded[case, save_format] = (originals[case], pickle.load(f))
  return loaded


_ROUND_TRIPS = [(c, f) for c in _CLASSES for f in _FORMATS]


@pytest.mark.parametrize("case,save_format", _ROUND_TRIPS)
def test_loaded_model_is_the_same_class(round_trips, case, save_format):
  _, loaded = round_trips[case, save_format]
  assert loaded["class"] == _CLASSES[case]
  assert loaded["isinstance"]


@pytest.mark.parametrize("case,save_format", _ROUND_TRIPS)
def test_loaded_model_has_the_same_weights(round_trips, case, save_format):
  original, loaded = round_trips[case, save_format]
  assert sorted(loaded["weights"]) == sorted(original["weights"])
  for name, value in original["weights"].items():
    np.testing.assert_array_equal(loaded["weights"][name], value, err_msg=name)


@pytest.mark.parametrize("case,save_format", _ROUND_TRIPS)
def test_loaded_model_computes_the_same_outputs(round_trips, case, save_format):
  original, loaded = round_trips[case, save_format]
  assert set(original["outputs"]) == set(loaded["outputs"]) == _OUTPUTS[case]
  for name, value in original["outputs"].items():
    np.testing.assert_allclose(loaded["outputs"][name], value, rtol=0,
                               atol=1e-6, err_msg=name)


@pytest.mark.parametrize("case,save_format", _ROUND_TRIPS)
def test_loaded_model_keeps_every_layers_dtype(round_trips, case, save_format):
  original, loaded = round_trips[case, save_format]
  assert loaded["layers"] == original["layers"]
  policies = collections.defaultdict(set)
  for kind, policy in loaded["layers"]:
    policies[kind].add(policy)
  assert policies["LayerNormalization"] == policies["Softmax"] == {"float32"}
  assert policies["MatmulEinsumDense"] == {_policy(case)}


@pytest.mark.parametrize("save_format", _FORMATS)
def test_loaded_coupled_pretrainer_is_tied_again(round_trips, save_format):
  original, loaded = round_trips["pretrainer_tied", save_format]
  assert original["tied"] and loaded["tied"]
  assert round_trips["pretrainer", save_format][1]["tied"] is False


def _built_pretrainer() -> rembert_tf.RemBertPretrainer:
  model = rembert_tf.RemBertPretrainer(_CONFIG)
  model(model.dummy_inputs())
  return model


@pytest.mark.parametrize("layer_of", [
    lambda m: m.encoder.embeddings,
    lambda m: m.encoder,
    lambda m: m.encoder.transformer_layers[0],
    # pylint: disable-next=protected-access
    lambda m: m.encoder.transformer_layers[0]._attention_layer,
    lambda m: m.masked_lm,
    lambda m: m,
], ids=["embeddings", "encoder", "block", "attention", "masked_lm",
        "pretrainer"])
def test_config_round_trips_through_json(
    layer_of: Callable[[rembert_tf.RemBertPretrainer], tf_keras.layers.Layer]):
  layer = layer_of(_built_pretrainer())
  saved = json.dumps(tf_keras.layers.serialize(layer))
  # A fresh parse for deserialize, which may consume keys of what it is given.
  clone = tf_keras.layers.deserialize(json.loads(saved))
  assert json.loads(saved)["registered_name"] == (
      f"rembert_tf>{type(layer).__name__}")
  assert type(clone) is type(layer)
  assert (json.loads(json.dumps(tf_keras.layers.serialize(clone)))["config"]
          == json.loads(saved)["config"])


def test_block_from_config_computes_the_same_outputs():
  block = _built_pretrainer().encoder.transformer_layers[0]
  clone = encoder_lib.TransformerBlock.from_config(
      json.loads(json.dumps(block.get_config())))
  inputs = [tf.random.stateless_normal([2, 5, 16], seed=[1, 2]),
            tf.ones([2, 5, 5])]
  clone(inputs)
  clone.set_weights(block.get_weights())
  attention = clone._attention_layer  # pylint: disable=protected-access
  assert type(attention).__name__ == "RemBertAttention"
  np.testing.assert_allclose(clone(inputs), block(inputs), rtol=0, atol=1e-6)


def test_coupled_head_alone_says_to_save_the_pretrainer():
  model = rembert_tf.RemBertPretrainer(_TIED)
  with pytest.raises(NotImplementedError, match="save the RemBertPretrainer"):
    model.masked_lm.get_config()
