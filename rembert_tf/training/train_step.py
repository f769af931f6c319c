"""One optimizer step, the same for pre-training and every fine-tuning task.

A task supplies a loss function returning three sums over its replica's batch:
the loss, the number of correct predictions and the weight (real predictions or
examples). The step all-reduces the gradients of the summed loss and the weight,
divides once by the global weight, clips by global norm and applies AdamW. The
mean loss is therefore over all real predictions of the global batch, and the
clipped gradient is the same for every replica count.
"""

from typing import Callable

import tensorflow as tf
import tf_keras

from rembert_tf.modeling.losses import LossSums

# (model, features, training) -> sums; the model is called inside.
LossFn = Callable[[tf_keras.Model, dict[str, tf.Tensor], bool], LossSums]


class TrainStep:
  """Replica train and eval steps plus the running sums behind the log."""

  def __init__(self, model: tf_keras.Model, loss_fn: LossFn,
               optimizer: tf_keras.optimizers.Optimizer, clip_norm: float,
               jit_compile: bool = False):
    self.model = model
    self.optimizer = optimizer
    self._loss_fn = loss_fn
    self._clip_norm = clip_norm
    self.sums = [tf_keras.metrics.Sum(name=n, dtype=tf.float64)
                 for n in LossSums._fields]
    # Free of cross-replica ops, so that --jit_compile can compile it.
    self.compiled_forward_backward = tf.function(self._forward_backward,
                                                 jit_compile=jit_compile)

  def _forward_backward(self, features: dict[str, tf.Tensor]):
    """Gradients of this replica's summed loss, and its sums."""
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      sums = self._loss_fn(self.model, features, True)
    return tape.gradient(sums.loss, variables), sums

  def replica_train_step(self, features: dict[str, tf.Tensor]) -> None:
    """Global mean loss; all-reduce, then one scale for the mean and the
    clip together, then AdamW."""
    context = tf.distribute.get_replica_context()
    grads, sums = self.compiled_forward_backward(features)
    total_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, sums.weight)
    grads = [_dense(g) for g in
             context.all_reduce(tf.distribute.ReduceOp.SUM, grads)]
    grads = _scale_and_clip(grads, 1.0 / tf.maximum(total_weight, 1.0),
                            self._clip_norm)
    self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables),
                                   skip_gradients_aggregation=True)
    self._accumulate(sums)

  def replica_eval_step(self, features: dict[str, tf.Tensor]) -> None:
    self._accumulate(self._loss_fn(self.model, features, False))

  def _accumulate(self, sums: LossSums) -> None:
    for metric, value in zip(self.sums, sums):
      metric.update_state(tf.cast(value, tf.float64))

  def read_and_reset_metrics(self) -> tuple[float, float]:
    """Mean loss and accuracy over the weight summed since the last call."""
    loss, correct, weight = (float(m.result()) for m in self.sums)
    for m in self.sums:
      m.reset_state()
    return loss / max(weight, 1.0), correct / max(weight, 1.0)


def _dense(gradient) -> tf.Tensor:
  """An embedding's sparse gradient as the dense tensor it stands for.

  Rows named twice (the same token twice in the batch, or on two replicas)
  are summed, so the global norm is the true gradient's; the shape stays
  static, as XLA and TPUs need. AdamW updates every row's moments anyway.
  """
  return tf.convert_to_tensor(gradient)


def _scale_and_clip(grads, scale: tf.Tensor, clip_norm: float):
  """`clip_by_global_norm(g * scale, clip_norm)` with one multiply, not two.

  Each multiply is a pass over every gradient (the output embedding's alone is
  V x Eout), so the mean's scale and the clip's factor are combined first.
  """
  norm = tf.linalg.global_norm(grads) * scale
  factor = scale * tf.minimum(1.0, clip_norm / norm)
  return [g * factor for g in grads]
