"""One optimizer step, the same for pre-training and every fine-tuning task.

A task supplies a loss function returning three sums over its replica's batch:
the loss, the number of correct predictions and the weight (real predictions or
examples). The step all-reduces the gradients of the summed loss and the weight,
divides once by the global weight, clips by global norm and applies AdamW. The
mean loss is therefore over all real predictions of the global batch, and the
clipped gradient is the same for every replica count.

With gradient accumulation each replica's batch is N micro-batches, run one
after the other in a `tf.while_loop` (one forward and backward's activations at
a time); their gradients are added into per-replica accumulator variables and
their sums added, before the same all-reduce, scale and clip, so N
micro-batches of B are one batch of N * B, and the optimizer, its schedule and
the checkpoints only ever see whole steps.

Under float16 the summed loss is multiplied by the LossScaleOptimizer's loss
scale, and the one scale divides it out again before the clip; the optimizer
then skips a step whose gradients are not finite and halves the loss scale.
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
               jit_compile: bool = False, accumulation_steps: int = 1):
    """`accumulation_steps` micro-batches per step; each replica's batch must
    divide by it. A LossScaleOptimizer `optimizer` turns loss scaling on."""
    self.model = model
    self.optimizer = optimizer
    self._loss_fn = loss_fn
    self._clip_norm = clip_norm
    self._accumulation_steps = accumulation_steps
    self._loss_scaled = isinstance(
        optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    self.sums = [tf_keras.metrics.Sum(name=n, dtype=tf.float64)
                 for n in LossSums._fields]
    if accumulation_steps > 1:
      # Per replica (ON_READ), never checkpointed. A variable takes each
      # gradient in place as soon as the backward pass has it, where loop
      # variables would hold a whole micro-batch's gradients besides the
      # sums: one copy of the parameters' size less at the peak (bench/).
      self._accumulators = [
          tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False,
                      synchronization=tf.VariableSynchronization.ON_READ,
                      aggregation=tf.VariableAggregation.SUM)
          for v in model.trainable_variables]
    # Free of cross-replica ops, so that --jit_compile can compile it.
    self.compiled_forward_backward = tf.function(
        self._forward_backward if accumulation_steps == 1
        else self._accumulating_forward_backward, jit_compile=jit_compile)

  def _forward_backward(self, features: dict[str, tf.Tensor]):
    """Gradients of this (micro-)batch's summed loss times the loss scale,
    and its sums."""
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      sums = self._loss_fn(self.model, features, True)
      loss = (self.optimizer.get_scaled_loss(sums.loss) if self._loss_scaled
              else sums.loss)
    return tape.gradient(loss, variables), sums

  def _accumulating_forward_backward(self, features: dict[str, tf.Tensor],
                                     first: tf.Tensor) -> LossSums:
    """Adds a micro-batch's dense gradients into the accumulators (the
    `first` assigns them); returns its sums."""
    grads, sums = self._forward_backward(features)
    for accumulator, grad in zip(self._accumulators, grads):
      grad = _dense(grad)
      tf.cond(first,
              lambda a=accumulator, g=grad: a.assign(g, read_value=False),
              lambda a=accumulator, g=grad: a.assign_add(g, read_value=False))
    return sums

  def _accumulated_forward_backward(self, features: dict[str, tf.Tensor]):
    """Summed dense gradients and sums of `accumulation_steps` micro-batches.

    The batch is reshaped to [N, B, ...] (no copy) and a while loop runs one
    micro-batch per iteration; `parallel_iterations=1` keeps the next
    micro-batch's forward pass from starting before this one's backward ends,
    which would hold two micro-batches' activations at once.
    """
    n = self._accumulation_steps
    micro = tf.nest.map_structure(
        lambda t: tf.reshape(t, [n, -1, *t.shape[1:]]), features)

    def body(i, sums):
      micro_sums = self.compiled_forward_backward(
          tf.nest.map_structure(lambda t: t[i], micro), tf.equal(i, 0))
      return i + 1, LossSums(*(a + b for a, b in zip(sums, micro_sums)))

    _, sums = tf.while_loop(
        lambda i, _: i < n, body,
        (tf.constant(0), LossSums(*[tf.constant(0.0)] * 3)),
        parallel_iterations=1)
    return [a.read_value() for a in self._accumulators], sums

  def replica_train_step(self, features: dict[str, tf.Tensor]) -> None:
    """Global mean loss; all-reduce, then one scale for the mean, the loss
    scale and the clip together, then AdamW."""
    context = tf.distribute.get_replica_context()
    if self._accumulation_steps > 1:
      grads, sums = self._accumulated_forward_backward(features)
    else:
      grads, sums = self.compiled_forward_backward(features)
    total_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, sums.weight)
    grads = [_dense(g) for g in
             context.all_reduce(tf.distribute.ReduceOp.SUM, grads)]
    scale = 1.0 / tf.maximum(total_weight, 1.0)
    if self._loss_scaled:  # The one factor is unscaled, not every gradient.
      scale = self.optimizer.get_unscaled_gradients([scale])[0]
    grads = _scale_and_clip(grads, scale, self._clip_norm)
    # A LossScaleOptimizer applies these only if all are finite; a
    # non-finite gradient stays so through the scale (inf * 0 is nan).
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
