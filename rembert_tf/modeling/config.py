"""RemBertConfig: the model's hyper-parameters, in the released `config.json` format.

Field names follow google/rembert's `config.json` (the Hugging Face format), so a
released or fine-tuned config is read as it is and written back in the same form.
`tie_word_embeddings` is added for the paper's coupled baselines (mBERT-style).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Optional

from rembert_tf import file_io

# Activations the model accepts by name. "gelu" is the exact (erf) form, as in the
# released model; "gelu_new"/"gelu_pytorch_tanh" name the tanh approximation that
# google-research/bert and tf-models-official call "gelu".
SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh")

# Keys that appear in released config.json files but carry no model information
# (or duplicate a field): accepted on read, not written back.
_IGNORED_KEYS = frozenset({
    "architectures", "model_type", "transformers_version", "torch_dtype", "dtype",
    "embedding_size", "embedding_dropout_prob", "use_cache", "is_decoder",
    "_name_or_path", "initializer_factor", "position_embedding_type",
})


class ConfigError(ValueError):
  """A config value is invalid; the message names the field and the file."""


@dataclasses.dataclass(frozen=True)
class RemBertConfig:
  """Hyper-parameters of a RemBERT model (defaults: the released google/rembert).

  Attributes:
    vocab_size: V, rows of the input and output embeddings.
    hidden_size: H, width of the Transformer layers.
    num_hidden_layers: L, number of Transformer layers.
    num_attention_heads: heads per layer; must divide `hidden_size`.
    input_embedding_size: Ein, width of the (small) input embedding.
    output_embedding_size: Eout, width of the (large) decoupled output embedding.
    intermediate_size: width of the feed-forward layer.
    hidden_act: activation of the feed-forward layer and of the MLM head.
    hidden_dropout_prob: dropout on embeddings and layer outputs.
    attention_probs_dropout_prob: dropout on attention probabilities.
    classifier_dropout_prob: dropout before task heads (fine-tuning only).
    max_position_embeddings: rows of the position embedding.
    type_vocab_size: rows of the token-type embedding (2, not tfm's 16).
    initializer_range: stddev of the truncated-normal initializer.
    layer_norm_eps: LayerNorm epsilon.
    pad_token_id: id of the padding token.
    bos_token_id: id of [CLS].
    eos_token_id: id of [SEP].
    tie_word_embeddings: coupled baseline: the MLM head scores against the input
      embedding (requires Eout == Ein) instead of its own output embedding.
    num_finetuning_layers: layers kept for fine-tuning when the model was
      pre-trained deeper than it is fine-tuned (the paper's Table 5 and
      Table 13 rows, section 6.2); None keeps all. `for_finetuning` applies it.
  """

  vocab_size: int = 250300
  hidden_size: int = 1152
  num_hidden_layers: int = 32
  num_attention_heads: int = 18
  input_embedding_size: int = 256
  output_embedding_size: int = 1664
  intermediate_size: int = 4608
  hidden_act: str = "gelu"
  hidden_dropout_prob: float = 0.0
  attention_probs_dropout_prob: float = 0.0
  classifier_dropout_prob: float = 0.1
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  initializer_range: float = 0.02
  layer_norm_eps: float = 1e-12
  pad_token_id: int = 0
  bos_token_id: int = 312
  eos_token_id: int = 313
  tie_word_embeddings: bool = False
  num_finetuning_layers: Optional[int] = None

  def __post_init__(self):
    self.validate()

  @property
  def head_size(self) -> int:
    """Width of one attention head."""
    return self.hidden_size // self.num_attention_heads

  def special_ids(self) -> dict[str, int]:
    """[CLS], [SEP] and padding ids, named as data metadata records them
    (`sentencepiece.special_ids`), to check data against the model."""
    return {"cls": self.bos_token_id, "sep": self.eos_token_id,
            "pad": self.pad_token_id}

  def validate(self) -> None:
    """Raises ConfigError naming the first invalid field."""
    def fail(field: str, problem: str) -> None:
      raise ConfigError(f"field '{field}' {problem}")

    for field in ("vocab_size", "hidden_size", "num_hidden_layers",
                  "num_attention_heads", "input_embedding_size",
                  "output_embedding_size", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size"):
      value = getattr(self, field)
      if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        fail(field, f"must be a positive integer, got {value!r}")
    for field in ("hidden_dropout_prob", "attention_probs_dropout_prob",
                  "classifier_dropout_prob"):
      value = getattr(self, field)
      if not 0.0 <= value < 1.0:
        fail(field, f"must be in [0, 1), got {value!r}")
    for field in ("initializer_range", "layer_norm_eps"):
      if getattr(self, field) <= 0:
        fail(field, f"must be positive, got {getattr(self, field)!r}")
    if self.hidden_size % self.num_attention_heads:
      fail("num_attention_heads",
           f"({self.num_attention_heads}) must divide hidden_size "
           f"({self.hidden_size})")
    if self.hidden_act not in SUPPORTED_ACTIVATIONS:
      fail("hidden_act", f"is {self.hidden_act!r}; supported: "
           f"{', '.join(SUPPORTED_ACTIVATIONS)}")
    if (self.tie_word_embeddings
        and self.output_embedding_size != self.input_embedding_size):
      fail("tie_word_embeddings",
           "is true, which needs output_embedding_size == input_embedding_size "
           f"(got {self.output_embedding_size} and {self.input_embedding_size}); "
           "set it to false for a decoupled output embedding")
    kept = self.num_finetuning_layers
    if kept is not None and (isinstance(kept, bool) or not isinstance(kept, int)
                             or not 1 <= kept <= self.num_hidden_layers):
      fail("num_finetuning_layers", f"must be in [1, num_hidden_layers = "
           f"{self.num_hidden_layers}] or null, got {kept!r}")
    for field in ("pad_token_id", "bos_token_id", "eos_token_id"):
      value = getattr(self, field)
      if not 0 <= value < self.vocab_size:
        fail(field, f"({value}) must be a valid id below vocab_size "
             f"({self.vocab_size})")

  def replace(self, **changes: Any) -> "RemBertConfig":
    """Returns a copy with `changes` applied (and validated)."""
    return dataclasses.replace(self, **changes)

  def for_finetuning(self, num_layers_to_keep: Optional[int] = None
                     ) -> "RemBertConfig":
    """The config of the model that is fine-tuned: its bottom k layers.

    k is `num_layers_to_keep` if given, else `num_finetuning_layers`, else
    every layer. An encoder built on the result restores the first k layers
    of a checkpoint of this config (`checkpoints.restore`).

    Raises:
      ConfigError: k outside [1, num_hidden_layers].
    """
    k = num_layers_to_keep or self.num_finetuning_layers or (
        self.num_hidden_layers)
    if not 1 <= k <= self.num_hidden_layers:
      raise ConfigError(f"cannot keep {k} layers: must be in [1, "
                        f"{self.num_hidden_layers}] (the config's layers)")
    return self.replace(num_hidden_layers=k, num_finetuning_layers=None)

  def to_dict(self) -> dict[str, Any]:
    """Released-style fields; `num_finetuning_layers` only when it is set."""
    values = dataclasses.asdict(self)
    if values["num_finetuning_layers"] is None:
      del values["num_finetuning_layers"]
    return values

  @classmethod
  def from_dict(cls, values: Mapping[str, Any],
                source: str = "RemBertConfig") -> "RemBertConfig":
    """Builds a config from released-style keys; unknown keys are an error."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields - _IGNORED_KEYS)
    if unknown:
      raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; "
                        f"known fields: {', '.join(sorted(fields))}")
    try:
      return cls(**{k: v for k, v in values.items() if k in fields})
    except (ConfigError, TypeError) as e:  # TypeError: a value of a wrong type.
      raise ConfigError(f"{source}: {e}") from None

  @classmethod
  def from_json_file(cls, path: str | os.PathLike[str]) -> "RemBertConfig":
    """Reads a `config.json`; errors name the file."""
    path = os.fspath(path)
    try:
      with open(path, encoding="utf-8") as f:
        values = json.load(f)
    except FileNotFoundError:
      raise ConfigError(f"config file not found: {path}") from None
    except json.JSONDecodeError as e:
      raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(values, dict):
      raise ConfigError(f"{path}: expected a JSON object of config fields")
    return cls.from_dict(values, source=path)

  def to_json_string(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

  def to_json_file(self, path: str | os.PathLike[str]) -> None:
    """Writes `config.json` atomically (temporary name, then rename)."""
    file_io.write_text(os.fspath(path), self.to_json_string())
