"""RemBertConfig reads/writes released config.json files and rejects bad values."""

import json

import pytest

import rembert_tf
from rembert_tf.modeling.config import ConfigError

# google/rembert's config.json as released, with its extra keys.
RELEASED = {
    "architectures": ["RemBertForMaskedLM"], "attention_probs_dropout_prob": 0,
    "bos_token_id": 312, "classifier_dropout_prob": 0.1, "embedding_dropout_prob": 0,
    "embedding_size": 256, "eos_token_id": 313, "hidden_act": "gelu",
    "hidden_dropout_prob": 0, "hidden_size": 1152, "initializer_range": 0.02,
    "input_embedding_size": 256, "intermediate_size": 4608, "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512, "model_type": "rembert",
    "num_attention_heads": 18, "num_hidden_layers": 32, "output_embedding_size": 1664,
    "pad_token_id": 0, "tie_word_embeddings": False, "type_vocab_size": 2,
    "vocab_size": 250300,
}


def test_reads_released_config_and_writes_it_back(tmp_path):
  path = tmp_path / "config.json"
  path.write_text(json.dumps(RELEASED))
  config = rembert_tf.RemBertConfig.from_json_file(path)
  assert config == rembert_tf.load_config("rembert")
  assert (config.input_embedding_size, config.output_embedding_size,
          config.head_size) == (256, 1664, 64)
  out = tmp_path / "out.json"
  config.to_json_file(out)
  written = json.loads(out.read_text())
  for key, value in written.items():
    if key in RELEASED:
      assert RELEASED[key] == value, key
  assert rembert_tf.RemBertConfig.from_json_file(out) == config
  assert not list(tmp_path.glob("*.tmp-*"))


@pytest.mark.parametrize("changes, field", [
    ({"num_attention_heads": 5}, "num_attention_heads"),
    ({"tie_word_embeddings": True}, "tie_word_embeddings"),
    ({"hidden_size": 0}, "hidden_size"),
    ({"vocab_size": -3}, "vocab_size"),
    ({"input_embedding_size": 2.5}, "input_embedding_size"),
    ({"hidden_act": "swishy"}, "hidden_act"),
    ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
    ({"eos_token_id": 250300}, "eos_token_id"),
])
def test_invalid_values_name_the_field_and_file(tmp_path, changes, field):
  path = tmp_path / "bad_config.json"
  path.write_text(json.dumps({**RELEASED, **changes}))
  with pytest.raises(ConfigError) as error:
    rembert_tf.RemBertConfig.from_json_file(path)
  assert f"'{field}'" in str(error.value)
  assert str(path) in str(error.value)


def test_unknown_field_missing_file_and_bad_json(tmp_path):
  path = tmp_path / "c.json"
  path.write_text(json.dumps({"hiden_size": 12}))
  with pytest.raises(ConfigError, match="unknown field.*hiden_size"):
    rembert_tf.RemBertConfig.from_json_file(path)
  with pytest.raises(ConfigError, match="config file not found"):
    rembert_tf.RemBertConfig.from_json_file(tmp_path / "missing.json")
  path.write_text("{not json")
  with pytest.raises(ConfigError, match="not valid JSON"):
    rembert_tf.RemBertConfig.from_json_file(path)
  with pytest.raises(ConfigError, match="no config named 'remberta'"):
    rembert_tf.load_config("remberta")
