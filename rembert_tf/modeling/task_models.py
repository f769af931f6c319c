"""Fine-tuning heads with the math of the released Hugging Face RemBERT heads.

Kept minimal so converted fine-tuned models (RemBertForSequenceClassification,
RemBertForQuestionAnswering) load into them exactly; training code builds on them.
"""

from typing import Optional

import tensorflow as tf
import tf_keras

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.embeddings import truncated_normal
from rembert_tf.modeling.encoder import RemBertEncoder


def classifier_layer(config: RemBertConfig,
                     num_classes: int) -> tf_keras.layers.Dense:
  """The classification dense layer (HF `classifier`), float32 logits."""
  return tf_keras.layers.Dense(
      num_classes, kernel_initializer=truncated_normal(config),
      dtype=tf.float32, name="classifier")


def span_layer(config: RemBertConfig) -> tf_keras.layers.Dense:
  """The start/end dense layer (HF `qa_outputs`), float32 logits."""
  return tf_keras.layers.Dense(
      2, kernel_initializer=truncated_normal(config), dtype=tf.float32,
      name="span_labeler")


class RemBertClassifier(tf_keras.Model):
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


class RemBertSpanLabeler(tf_keras.Model):
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
