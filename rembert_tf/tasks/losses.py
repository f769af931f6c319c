"""The fine-tuning tasks' losses, as `LossSums` the shared harness all-reduces.

Each returns sums over one replica's batch (loss, correct predictions, weight);
the `TrainStep` adds them across replicas and divides once, as for the masked-LM
loss of pre-training (`rembert_tf.modeling.losses`).
"""

import tensorflow as tf

from rembert_tf.modeling.losses import LossSums
from rembert_tf.modeling.losses import masked_lm_sums


def classification_sums(logits: tf.Tensor, label_ids: tf.Tensor) -> LossSums:
  """Summed cross-entropy and correct count; the weight is the example count."""
  logits = tf.cast(logits, tf.float32)
  label_ids = tf.cast(label_ids, tf.int32)
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=label_ids, logits=logits)
  correct = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32),
                     label_ids)
  return LossSums(loss=tf.reduce_sum(cross_entropy),
                  correct=tf.reduce_sum(tf.cast(correct, tf.float32)),
                  weight=tf.cast(tf.size(label_ids), tf.float32))


def token_classification_sums(logits: tf.Tensor, label_ids: tf.Tensor,
                              label_weights: tf.Tensor) -> LossSums:
  """Tagging sums: cross-entropy and correct count over the pieces of weight
  1 (each word's first piece), and their number.

  The masked-LM sums' math with pieces for prediction slots: the mean over
  the scored pieces of a batch, as Hugging Face's ignore_index gives it.

  Args:
    logits: [batch, seq, num_labels], any float dtype (cast to float32).
    label_ids: int [batch, seq], any value where the weight is 0.
    label_weights: [batch, seq], 1 on a word's first piece, else 0.
  """
  return masked_lm_sums(logits, label_ids, label_weights)


def span_sums(start_logits: tf.Tensor, end_logits: tf.Tensor,
              start_positions: tf.Tensor, end_positions: tf.Tensor) -> LossSums:
  """Extractive-QA sums: loss (CE_start + CE_end) / 2 per example, examples
  with both boundaries right, and the example count.

  An example whose start or end position is outside [0, seq) (a label for a
  longer sequence) is ignored: no loss and no weight, as Hugging Face's
  ignore_index does, instead of a cross-entropy on an index that does not
  exist.

  Args:
    start_logits: [batch, seq], any float dtype (cast to float32).
    end_logits: [batch, seq].
    start_positions: int [batch], the answer's first token.
    end_positions: int [batch], its last token.
  """
  start_logits = tf.cast(start_logits, tf.float32)
  end_logits = tf.cast(end_logits, tf.float32)
  seq_length = tf.shape(start_logits)[1]
  start_positions = tf.reshape(tf.cast(start_positions, tf.int32), [-1])
  end_positions = tf.reshape(tf.cast(end_positions, tf.int32), [-1])
  weight = tf.cast(
      (start_positions >= 0) & (start_positions < seq_length) &
      (end_positions >= 0) & (end_positions < seq_length), tf.float32)
  clamped = [tf.clip_by_value(p, 0, seq_length - 1)
             for p in (start_positions, end_positions)]
  cross_entropy = [tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=p, logits=logits)
                   for p, logits in zip(clamped, (start_logits, end_logits))]
  right = [tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), p)
           for p, logits in zip(clamped, (start_logits, end_logits))]
  correct = tf.cast(right[0] & right[1], tf.float32)
  return LossSums(
      loss=tf.reduce_sum(weight * (cross_entropy[0] + cross_entropy[1]) / 2),
      correct=tf.reduce_sum(weight * correct),
      weight=tf.reduce_sum(weight))
