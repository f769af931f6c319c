"""The tagging model: a (possibly shortened) encoder plus HF's token head.

The head is `rembert_tf.modeling.task_models.RemBertTokenClassifier` (sequence
output, dropout `classifier_dropout_prob`, dense), reused as is; layer
dropping works as for the classifier (`harness.load_configs`).
"""

import tensorflow as tf

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.losses import LossSums
from rembert_tf.modeling.task_models import RemBertTokenClassifier
from rembert_tf.tasks.losses import token_classification_sums


def build_token_classifier(config: RemBertConfig, num_labels: int,
                           seq_length: int) -> RemBertTokenClassifier:
  """A built token classifier (all variables exist, ready to restore)."""
  model = RemBertTokenClassifier(config, num_labels,
                                 name="token_classifier_model")
  model(model.encoder.dummy_inputs(1, seq_length))
  return model


def head_params(config: RemBertConfig, num_labels: int) -> int:
  """Parameters of the per-token dense layer."""
  return (config.hidden_size + 1) * num_labels


def tagging_loss(model: RemBertTokenClassifier, features: dict[str, tf.Tensor],
                 training: bool) -> LossSums:
  """Cross-entropy and accuracy sums over the words' first pieces."""
  logits = model(features, training=training)["logits"]
  return token_classification_sums(logits, features["label_ids"],
                                   features["label_weights"])
