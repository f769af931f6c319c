"""AdamW with linear warmup then linear decay, as in the paper's Table 14.

tf-models-official's `WarmUp` hands the raw step to a decay that started at step
0, so the rate drops at the end of warmup (to peak * (1 - warmup/total)). Here the
decay starts where the warmup ends: the schedule is continuous, reaches the peak
exactly at `num_warmup_steps` and 0 at `num_train_steps`, and being a function of
the optimizer's step it continues unchanged across a resume.
"""

import re
from typing import Iterable

import tensorflow as tf
import tf_keras

# LayerNorm weights and every bias are not decayed (BERT's convention).
# Matched against variable names with re.search.
WEIGHT_DECAY_EXCLUDE = ("layer_norm", "LayerNorm", "bias")


class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
  """peak * step / warmup, then peak * (total - step) / (total - warmup)."""

  def __init__(self, peak_learning_rate: float, num_warmup_steps: int,
               num_train_steps: int):
    super().__init__()
    if not 0 <= num_warmup_steps < num_train_steps:
      raise ValueError(
          f"num_warmup_steps ({num_warmup_steps}) must be in "
          f"[0, num_train_steps ({num_train_steps}))")
    self.peak_learning_rate = peak_learning_rate
    self.num_warmup_steps = num_warmup_steps
    self.num_train_steps = num_train_steps

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    peak = tf.constant(self.peak_learning_rate, tf.float32)
    warmup = float(self.num_warmup_steps)
    decay = float(self.num_train_steps - self.num_warmup_steps)
    warming = peak * step / max(warmup, 1.0)
    decaying = peak * tf.maximum(0.0, (self.num_train_steps - step) / decay)
    return tf.where(step < warmup, warming, decaying)

  def get_config(self):
    return {"peak_learning_rate": self.peak_learning_rate,
            "num_warmup_steps": self.num_warmup_steps,
            "num_train_steps": self.num_train_steps}


@tf.function(jit_compile=True)
def _decay_in_place(variable: tf.Variable, rate: tf.Tensor) -> None:
  """`variable -= variable * rate` in the variable's own buffer: compiled,
  XLA updates it in place, where the plain ops allocate its size again."""
  variable.assign_sub(variable * rate)


class FusedAdamW(tf_keras.optimizers.AdamW):
  """tf_keras's AdamW with each variable's Adam update in one fused kernel.

  The math is AdamW's exactly (decoupled weight decay, bias-corrected moments,
  epsilon outside the square root), and the slots and checkpoint names are the
  same. tf_keras updates the moments and the variable with separate element-wise
  ops, several passes over memory per variable; `ResourceApplyAdam` makes one.
  On CPU, where tf_keras does not XLA-compile its optimizer, that halves the
  optimizer's time for the 120k x 768 output embedding of the base model (see
  bench/). Sparse gradients (the input embedding's) are made dense first:
  AdamW decays the moments of every row anyway, so the work is the same.

  The decoupled weight decay runs per variable just before its update, once
  its gradient exists, and in place. tf_keras decays every variable first,
  with nothing ordering that after the backward pass, as `v -= v * rate`: a
  temporary the size of each weight, plus a copy of the weight when the
  forward pass's read of it is still held for the backward (copy-on-write).
  Together about 0.75x the parameters' memory at the step's peak (bench/,
  `--suites=memory`).
  """

  def _apply_weight_decay(self, variables):
    """Nothing here: `update_step` decays each variable (see above)."""

  def update_step(self, gradient, variable):
    if self._use_weight_decay(variable):
      with tf.control_dependencies([gradient]):
        _decay_in_place(variable, tf.cast(self.learning_rate, variable.dtype)
                        * tf.cast(self.weight_decay, variable.dtype))
    if self.amsgrad:
      return super().update_step(gradient, variable)
    if isinstance(gradient, tf.IndexedSlices):
      gradient = tf.convert_to_tensor(gradient)
    dtype = variable.dtype
    local_step = tf.cast(self.iterations + 1, dtype)
    beta_1 = tf.cast(self.beta_1, dtype)
    beta_2 = tf.cast(self.beta_2, dtype)
    index = self._index_dict[self._var_key(variable)]
    return tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=self._momentums[index].handle,
        v=self._velocities[index].handle,
        beta1_power=tf.pow(beta_1, local_step),
        beta2_power=tf.pow(beta_2, local_step),
        lr=tf.cast(self.learning_rate, dtype), beta1=beta_1, beta2=beta_2,
        epsilon=tf.cast(self.epsilon, dtype), grad=gradient)


def create_optimizer(schedule: WarmupLinearDecay, weight_decay: float = 0.01,
                     beta_1: float = 0.9, beta_2: float = 0.999,
                     epsilon: float = 1e-6) -> FusedAdamW:
  """AdamW on `schedule`, LayerNorm weights and biases not decayed.

  Gradient clipping is not set here: the trainer clips by global norm itself,
  after the cross-replica sum, so every replica count clips the same gradient.
  """
  optimizer = FusedAdamW(
      learning_rate=schedule, weight_decay=weight_decay, beta_1=beta_1,
      beta_2=beta_2, epsilon=epsilon)
  optimizer.exclude_from_weight_decay(var_names=list(WEIGHT_DECAY_EXCLUDE))
  return optimizer


def split_by_weight_decay(
    variables: Iterable[tf.Variable]) -> tuple[list[str], list[str]]:
  """Names of the variables that are decayed and of those excluded."""
  decayed, excluded = [], []
  for variable in variables:
    is_excluded = any(re.search(p, variable.name) for p in WEIGHT_DECAY_EXCLUDE)
    (excluded if is_excluded else decayed).append(variable.name)
  return decayed, excluded
