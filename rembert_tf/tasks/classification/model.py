"""The fine-tuning model: a (possibly shortened) encoder plus HF's classifier head.

The head is `rembert_tf.modeling.task_models.RemBertClassifier` (pooled output,
dropout `classifier_dropout_prob`, dense), reused as is. Layer dropping (paper
section 6.2) builds it on the config with `num_hidden_layers = k`
(`finetuning.load_configs`): the fine-tuned model then *is* a k-layer RemBERT,
its saved config says so, and `restore_encoder` takes the first k layers of
the deeper checkpoint.
"""

import tensorflow as tf

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.losses import LossSums
from rembert_tf.tasks.losses import classification_sums
from rembert_tf.modeling.task_models import RemBertClassifier


def build_classifier(config: RemBertConfig, num_labels: int,
                     seq_length: int) -> RemBertClassifier:
  """A built classifier (all variables exist, ready to restore)."""
  model = RemBertClassifier(config, num_labels, name="classifier_model")
  model(model.encoder.dummy_inputs(1, seq_length))
  return model


def head_params(config: RemBertConfig, num_labels: int) -> int:
  """Parameters of the classification dense layer."""
  return (config.hidden_size + 1) * num_labels


def classifier_loss(model: RemBertClassifier, features: dict[str, tf.Tensor],
                    training: bool) -> LossSums:
  """Cross-entropy and accuracy sums over the batch's examples."""
  logits = model(features, training=training)["logits"]
  return classification_sums(logits, features["label_id"])
