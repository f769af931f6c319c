"""The extractive-QA model: a (possibly shortened) encoder plus HF's span head.

The head is `rembert_tf.modeling.task_models.RemBertSpanLabeler` (sequence
output, dense to start and end logits, no dropout), reused as is; layer
dropping works as for the classifier (`finetuning.load_configs`).
"""

import tensorflow as tf

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.losses import LossSums
from rembert_tf.tasks.losses import span_sums
from rembert_tf.modeling.task_models import RemBertSpanLabeler


def build_span_labeler(config: RemBertConfig,
                       seq_length: int) -> RemBertSpanLabeler:
  """A built span labeler (all variables exist, ready to restore)."""
  model = RemBertSpanLabeler(config, name="span_labeler_model")
  model(model.encoder.dummy_inputs(1, seq_length))
  return model


def head_params(config: RemBertConfig) -> int:
  """Parameters of the start/end dense layer."""
  return (config.hidden_size + 1) * 2


def span_loss(model: RemBertSpanLabeler, features: dict[str, tf.Tensor],
              training: bool) -> LossSums:
  """Mean of the start and end cross-entropies, summed over the examples."""
  outputs = model(features, training=training)
  return span_sums(outputs["start_logits"], outputs["end_logits"],
                   features["start_positions"], features["end_positions"])
