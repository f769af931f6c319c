"""The one table that places every RemBERT tensor in each of the three layouts.

Each row names one tensor in our object-based checkpoint, in Hugging Face's PyTorch
state dict (`RemBertModel` naming) and in the original TF1 checkpoint
(gs://gresearch/rembert, `bert/...` names), and says how the layouts differ. All
conversion directions are derived from this table; nothing is mapped elsewhere.

The canonical layout is the TF1 one (dense kernels [in, out]). From it:
  * Hugging Face stores Linear weights transposed ([out, in]) where `hf_transpose`;
  * we store attention kernels and biases split per head ([H, heads, head_size],
    [heads, head_size, H], [heads, head_size]) where `heads`: a row-major reshape.

The MLM head's names in the original checkpoint are not published; every plausible
spelling is accepted (tf1 patterns are regular expressions), the output embedding
is also recognised by its [V, Eout] shape, a `--name_map` file places any other
name (`importer.plan`), and anything that still does not match is reported as
unplaced, never dropped silently.
"""

import dataclasses
import re
from typing import Iterator, Optional

import numpy as np

CHECKPOINT_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

# Parts of a model; a converted model holds "encoder" and any of the others.
ENCODER = "encoder"
POOLER = "pooler"
PROJECTION = "projection"
MASKED_LM = "masked_lm"
OUTPUT_EMBEDDING = "output_embedding"
CLASSIFIER = "classifier"
TOKEN_CLASSIFIER = "token_classifier"
SPAN_LABELER = "span_labeler"

# Optimizer state in the original checkpoint (BERT-TF1 AdamWeightDecayOptimizer,
# tf.train.Adam): skipped by design, counted in the manifest.
_OPTIMIZER = re.compile(
    r"(^|/)(adam_m|adam_v|Adam|Adam_1|AdamWeightDecayOptimizer(_\d+)?|"
    r"global_step|beta1_power|beta2_power|LAMB|LAMB_1)($|/)")


def is_optimizer_state(tf1_name: str) -> bool:
  return bool(_OPTIMIZER.search(tf1_name))


# Roots of our object-based checkpoints that hold model weights.
MODEL_ROOTS = frozenset({"encoder", "masked_lm", "classifier",
                         "token_classifier", "span_labeler"})


def is_training_state(key: str) -> bool:
  """Keys of our checkpoints that are no model weight (optimizer slots, step,
  the object graph): a training run's model_dir holds them beside the model."""
  return (not key.endswith(CHECKPOINT_SUFFIX) or "OPTIMIZER_SLOT" in key
          or key.split("/")[0] not in MODEL_ROOTS)


@dataclasses.dataclass(frozen=True)
class Row:
  """One tensor; `{i}` in a name stands for the layer index.

  Attributes:
    ours: our checkpoint key, without the `/.ATTRIBUTES/VARIABLE_VALUE` suffix.
    hf: the Hugging Face PyTorch name in `RemBertModel` (task models add
      `rembert.` in front of encoder names, not of head names).
    tf1: regular expressions for the original TF1 name; the first one is also
      the spelling this project writes. Empty for heads TF1 never had.
    part: which model part the tensor belongs to.
    hf_transpose: Hugging Face stores the transpose of the TF1 layout.
    heads: our layout splits the TF1 layout per attention head.
  """
  ours: str
  hf: str
  tf1: tuple[str, ...]
  part: str
  hf_transpose: bool = False
  heads: bool = False

  def transform(self, source: str, target: str) -> str:
    """The steps from layout `source` to `target` ("tf1", "hf", "ours")."""
    steps = []
    if source == "hf" and self.hf_transpose:
      steps.append("transpose")
    if source == "ours" and self.heads:
      steps.append("merge_heads")
    if target == "hf" and self.hf_transpose:
      steps.append("transpose")
    if target == "ours" and self.heads:
      steps.append("reshape_to_heads")
    return "+".join(steps) or "copy"


def _dense(ours: str, hf: str, tf1: str, part: str, heads_kernel: bool = False,
           heads_bias: bool = False) -> list[Row]:
  return [Row(f"{ours}/kernel", f"{hf}.weight", (f"{tf1}/kernel",), part,
              hf_transpose=True, heads=heads_kernel),
          Row(f"{ours}/bias", f"{hf}.bias", (f"{tf1}/bias",), part,
              heads=heads_bias)]


def _layer_norm(ours: str, hf: str, tf1: str, part: str) -> list[Row]:
  return [Row(f"{ours}/gamma", f"{hf}.weight", (f"{tf1}/gamma",), part),
          Row(f"{ours}/beta", f"{hf}.bias", (f"{tf1}/beta",), part)]


def _layer_rows() -> list[Row]:
  ours, hf, tf1 = ("encoder/transformer_layers/{i}", "encoder.layer.{i}",
                   "bert/encoder/layer_{i}")
  rows = []
  for name in ("query", "key", "value"):
    rows += _dense(f"{ours}/_attention_layer/_{name}_dense",
                   f"{hf}.attention.self.{name}",
                   f"{tf1}/attention/self/{name}", ENCODER,
                   heads_kernel=True, heads_bias=True)
  rows += _dense(f"{ours}/_attention_layer/_output_dense",
                 f"{hf}.attention.output.dense",
                 f"{tf1}/attention/output/dense", ENCODER, heads_kernel=True)
  rows += _layer_norm(f"{ours}/_attention_layer_norm",
                      f"{hf}.attention.output.LayerNorm",
                      f"{tf1}/attention/output/LayerNorm", ENCODER)
  rows += _dense(f"{ours}/_intermediate_dense", f"{hf}.intermediate.dense",
                 f"{tf1}/intermediate/dense", ENCODER)
  rows += _dense(f"{ours}/_output_dense", f"{hf}.output.dense",
                 f"{tf1}/output/dense", ENCODER)
  rows += _layer_norm(f"{ours}/_output_layer_norm", f"{hf}.output.LayerNorm",
                      f"{tf1}/output/LayerNorm", ENCODER)
  return rows


def _mlm_rows() -> list[Row]:
  # google-research/bert writes the head under cls/predictions/transform/...;
  # the RemBERT release may have dropped the `transform` scope.
  scope = r"cls/predictions(?:/transform)?"
  return [
      Row("masked_lm/dense/kernel", "cls.predictions.dense.weight",
          ("cls/predictions/transform/dense/kernel", f"{scope}/dense/kernel"),
          MASKED_LM, hf_transpose=True),
      Row("masked_lm/dense/bias", "cls.predictions.dense.bias",
          ("cls/predictions/transform/dense/bias", f"{scope}/dense/bias"),
          MASKED_LM),
      Row("masked_lm/layer_norm/gamma", "cls.predictions.LayerNorm.weight",
          ("cls/predictions/transform/LayerNorm/gamma",
           f"{scope}/(?:LayerNorm|layer_norm)/gamma"), MASKED_LM),
      Row("masked_lm/layer_norm/beta", "cls.predictions.LayerNorm.bias",
          ("cls/predictions/transform/LayerNorm/beta",
           f"{scope}/(?:LayerNorm|layer_norm)/beta"), MASKED_LM),
      Row("masked_lm/output_bias", "cls.predictions.decoder.bias",
          ("cls/predictions/output_bias",
           r"(?:cls/predictions/)?output_bias(?:/bias)?"), MASKED_LM),
      # HF's decoder is Linear(Eout, V): its weight [V, Eout] is the table as is.
      Row("masked_lm/output_embedding", "cls.predictions.decoder.weight",
          ("cls/predictions/output_embedding",
           r"(?:[\w/]*/)?output_embeddings?(?:/embeddings)?"), OUTPUT_EMBEDDING),
  ]


_ROWS: tuple[Row, ...] = tuple(
    [Row("encoder/embeddings/word_embeddings/embeddings",
         "embeddings.word_embeddings.weight",
         ("bert/embeddings/word_embeddings",), ENCODER),
     Row("encoder/embeddings/position_embedding/embeddings",
         "embeddings.position_embeddings.weight",
         ("bert/embeddings/position_embeddings",), ENCODER),
     Row("encoder/embeddings/type_embeddings/embeddings",
         "embeddings.token_type_embeddings.weight",
         ("bert/embeddings/token_type_embeddings",), ENCODER)]
    + _layer_norm("encoder/embeddings/layer_norm", "embeddings.LayerNorm",
                  "bert/embeddings/LayerNorm", ENCODER)
    + _dense("encoder/embeddings/projection",
             "encoder.embedding_hidden_mapping_in",
             "bert/encoder/embedding_hidden_mapping_in", PROJECTION)
    + _layer_rows()
    + _dense("encoder/pooler", "pooler.dense", "bert/pooler/dense", POOLER)
    + _mlm_rows()
    + [Row("classifier/kernel", "classifier.weight", (), CLASSIFIER,
           hf_transpose=True),
       Row("classifier/bias", "classifier.bias", (), CLASSIFIER),
       # RemBertForTokenClassification names its head `classifier` too; a
       # source says which of the two it holds (`importer.Source`).
       Row("token_classifier/kernel", "classifier.weight", (),
           TOKEN_CLASSIFIER, hf_transpose=True),
       Row("token_classifier/bias", "classifier.bias", (), TOKEN_CLASSIFIER),
       Row("span_labeler/kernel", "qa_outputs.weight", (), SPAN_LABELER,
           hf_transpose=True),
       Row("span_labeler/bias", "qa_outputs.bias", (), SPAN_LABELER)])

# Parts that live inside RemBertModel (prefixed `rembert.` in task models).
_HF_BASE_PARTS = frozenset({ENCODER, PROJECTION, POOLER})


@dataclasses.dataclass(frozen=True)
class Tensor:
  """One row instantiated for a layer: concrete names in the three layouts."""
  row: Row
  ours: str
  hf: str
  tf1: tuple[str, ...]

  @property
  def key(self) -> str:
    """Our full checkpoint key."""
    return self.ours + CHECKPOINT_SUFFIX

  def hf_name(self, task_model: bool) -> str:
    """The Hugging Face name, prefixed inside a task model."""
    if task_model and self.row.part in _HF_BASE_PARTS:
      return "rembert." + self.hf
    return self.hf

  def matches_tf1(self, name: str) -> bool:
    return any(re.fullmatch(pattern, name) for pattern in self.tf1)


def tensors(num_layers: int, parts: Optional[set[str]] = None) -> Iterator[Tensor]:
  """Every tensor of a model with `num_layers` layers (optionally some parts)."""
  for row in _ROWS:
    if parts is not None and row.part not in parts:
      continue
    indices = range(num_layers) if "{i}" in row.ours else (None,)
    for i in indices:
      fill = (lambda s: s) if i is None else (lambda s, i=i: s.replace("{i}", str(i)))
      yield Tensor(row, fill(row.ours), fill(row.hf),
                   tuple(fill(p) for p in row.tf1))


def swap_hf(row: Row, value: np.ndarray) -> np.ndarray:
  """TF1 layout <-> Hugging Face layout (a transpose is its own inverse)."""
  return np.ascontiguousarray(value.T) if row.hf_transpose else value


def canonical_shape(row: Row, our_shape: list[int]) -> list[int]:
  """The TF1 layout's shape of a tensor whose shape in our layout is given."""
  our_shape = list(our_shape)
  if not row.heads:
    return our_shape
  if row.ours.endswith("/bias"):
    return [int(np.prod(our_shape))]
  if row.ours.endswith("_attention_layer/_output_dense/kernel"):
    return [our_shape[0] * our_shape[1], our_shape[2]]
  return [our_shape[0], our_shape[1] * our_shape[2]]


def source_shape(row: Row, our_shape: list[int], layout: str) -> list[int]:
  """The shape a tensor must have in `layout` ("tf1" or "hf")."""
  shape = canonical_shape(row, our_shape)
  return shape[::-1] if layout == "hf" and row.hf_transpose else shape


def ours_to_canonical(row: Row, value: np.ndarray) -> np.ndarray:
  """Merges the head axes back: [H, n, d] -> [H, n*d]; [n, d, H] -> [n*d, H]."""
  return value.reshape(canonical_shape(row, value.shape))
