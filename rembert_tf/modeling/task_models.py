"""Fine-tuning heads with the math of the released Hugging Face RemBERT heads.

Kept minimal so converted fine-tuned models (RemBertForSequenceClassification,
RemBertForTokenClassification, RemBertForQuestionAnswering) load into them
exactly; training code builds on them.
"""

from typing import Any, Optional

import tensorflow as tf
import tf_keras

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.embeddings import truncated_normal
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.serialization import ConfigSerializable


def classifier_layer(config: RemBertConfig, num_classes: int,
                     name: str = "classifier") -> tf_keras.layers.Dense:
  """The classification dense layer (HF `classifier`), float32 logits; the
  token classifier's is named "token_classifier" (its checkpoint root)."""
  return tf_keras.layers.Dense(
      num_classes, kernel_initializer=truncated_normal(config),
      dtype=tf.float32, name=name)


def span_layer(config: RemBertConfig) -> tf_keras.layers.Dense:
  """The start/end dense layer (HF `qa_outputs`), float32 logits."""
  return tf_keras.layers.Dense(
      2, kernel_initializer=truncated_normal(config), dtype=tf.float32,
      name="span_labeler")


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertClassifier(ConfigSerializable, tf_keras.Model):
  """Pooled output -> Dropout(classifier_dropout_prob) -> Dense(num_classes).

  Outputs float32 `logits` [batch, num_classes]; one dropout, as in Hugging Face
  (tf-models-official's BertClassifier applies two).
  """

  def __init__(self, config: RemBertConfig, num_classes: int, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.num_classes = num_classes
    self.encoder = RemBertEncoder(config, add_pooling_layer=True, name="encoder")
    self.dropout = tf_keras.layers.Dropout(config.classifier_dropout_prob)
    self.classifier = classifier_layer(config, num_classes)

  def extra_config(self) -> dict[str, Any]:
    return {"num_classes": self.num_classes}

  @property
  def checkpoint_items(self) -> dict[str, tf_keras.layers.Layer]:
    return {"encoder": self.encoder, "classifier": self.classifier}

  def call(self, inputs: dict[str, tf.Tensor],
           training: Optional[bool] = None) -> dict[str, tf.Tensor]:
    pooled = self.encoder(inputs, training=training)["pooled_output"]
    pooled = self.dropout(pooled, training=training)
    return {"logits": self.classifier(pooled)}

  def dummy_inputs(self) -> dict[str, tf.Tensor]:
    return self.encoder.dummy_inputs()


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertTokenClassifier(ConfigSerializable, tf_keras.Model):
  """Sequence output -> Dropout(classifier_dropout_prob) -> Dense(num_classes).

  HF's RemBertForTokenClassification (no pooler). Outputs float32 `logits`
  [batch, seq, num_classes]. The dense layer's checkpoint root is
  `token_classifier`, apart from the sentence classifier's `classifier`
  (Hugging Face names both `classifier`).
  """

  def __init__(self, config: RemBertConfig, num_classes: int, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.num_classes = num_classes
    self.encoder = RemBertEncoder(config, add_pooling_layer=False,
                                  name="encoder")
    self.dropout = tf_keras.layers.Dropout(config.classifier_dropout_prob)
    self.token_classifier = classifier_layer(config, num_classes,
                                             name="token_classifier")

  def extra_config(self) -> dict[str, Any]:
    return {"num_classes": self.num_classes}

  @property
  def checkpoint_items(self) -> dict[str, tf_keras.layers.Layer]:
    return {"encoder": self.encoder, "token_classifier": self.token_classifier}

  def call(self, inputs: dict[str, tf.Tensor],
           training: Optional[bool] = None) -> dict[str, tf.Tensor]:
    sequence = self.encoder(inputs, training=training)["sequence_output"]
    sequence = self.dropout(sequence, training=training)
    return {"logits": self.token_classifier(sequence)}

  def dummy_inputs(self) -> dict[str, tf.Tensor]:
    return self.encoder.dummy_inputs()


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
class RemBertSpanLabeler(ConfigSerializable, tf_keras.Model):
  """Sequence output -> Dense(2) -> start and end logits (no dropout, as in HF QA).

  Outputs float32 `start_logits` and `end_logits`, each [batch, seq].
  """

  def __init__(self, config: RemBertConfig, **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.encoder = RemBertEncoder(config, add_pooling_layer=False, name="encoder")
    self.span_labeler = span_layer(config)

  @property
  def checkpoint_items(self) -> dict[str, tf_keras.layers.Layer]:
    return {"encoder": self.encoder, "span_labeler": self.span_labeler}

  def call(self, inputs: dict[str, tf.Tensor],
           training: Optional[bool] = None) -> dict[str, tf.Tensor]:
    sequence = self.encoder(inputs, training=training)["sequence_output"]
    start, end = tf.unstack(self.span_labeler(sequence), axis=-1)
    return {"start_logits": start, "end_logits": end}

  def dummy_inputs(self) -> dict[str, tf.Tensor]:
    return self.encoder.dummy_inputs()
