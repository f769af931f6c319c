"""Masked-LM loss and accuracy, in float32, normalised by the prediction weights.

Each example carries `max_predictions_per_seq` prediction slots, of which the unused
ones have weight 0; dividing by the sum of the weights (not by the number of slots)
gives the mean loss over real predictions. Distributed training all-reduces the sums
first and divides once (`LossSums`), so every replica count gives the same loss.
"""

from typing import NamedTuple

import tensorflow as tf


class LossSums(NamedTuple):
  """Sums over one replica's batch (loss, correct predictions, weight of the
  real predictions or examples); add across replicas before dividing."""
  loss: tf.Tensor
  correct: tf.Tensor
  weight: tf.Tensor


def masked_lm_sums(logits: tf.Tensor, label_ids: tf.Tensor,
                   label_weights: tf.Tensor) -> LossSums:
  """Sums of weighted cross-entropy, of correct predictions and of weights.

  Args:
    logits: [batch, num_predictions, V], any float dtype (cast to float32).
    label_ids: int [batch, num_predictions], the original token ids.
    label_weights: [batch, num_predictions], 1.0 for real predictions, 0 for pad.
  """
  logits = tf.cast(logits, tf.float32)
  weights = tf.cast(label_weights, tf.float32)
  label_ids = tf.cast(label_ids, tf.int32)
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=label_ids, logits=logits)
  correct = tf.cast(
      tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), label_ids),
      tf.float32)
  return LossSums(loss=tf.reduce_sum(cross_entropy * weights),
                      correct=tf.reduce_sum(correct * weights),
                      weight=tf.reduce_sum(weights))


def masked_lm_loss_and_accuracy(
    logits: tf.Tensor, label_ids: tf.Tensor,
    label_weights: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Mean loss and accuracy over the real (non-zero-weight) predictions."""
  sums = masked_lm_sums(logits, label_ids, label_weights)
  return (tf.math.divide_no_nan(sums.loss, sums.weight),
          tf.math.divide_no_nan(sums.correct, sums.weight))
