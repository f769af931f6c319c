"""What every training run does around its model: the shared harness.

Pre-training and the fine-tuning tasks differ in their model, loss, data and
what they do at a checkpoint; everything else lives here, once:
  - the strategy (TPU, local devices, multi-worker or one device), the global
    batch split, seeds and the float32 / mixed_bfloat16 policy;
  - AdamW on the warmup-then-linear-decay schedule and the shared `TrainStep`;
  - resuming from the latest checkpoint in `model_dir` (model, optimizer, step
    and, on one worker, the input position), with shapes checked first;
  - the host loop: `steps_per_loop` compiled steps per call, a progress line,
    TensorBoard scalars, checkpoints every `save_checkpoints_steps`;
  - multi-worker runs: only the chief writes to `model_dir`; the other workers
    save into a private temporary directory, removed by `close()`.
"""

import os
import shutil
import tempfile
from typing import Callable, Optional

from absl import logging
import tensorflow as tf
import tf_keras

from rembert_tf.modeling import checkpoints
from rembert_tf.training import distribution
from rembert_tf.training import input_feed
from rembert_tf.training import optimization
from rembert_tf.training.params import TrainingParams
from rembert_tf.training.progress import ProgressLogger
from rembert_tf.training.train_step import LossFn
from rembert_tf.training.train_step import TrainStep

# (step) -> metrics to log and summarise, run after each checkpoint is saved.
CheckpointHook = Callable[[int], dict[str, float]]


class Trainer:
  """Strategy, model, optimizer, checkpoints and host loop of one run."""

  def __init__(self, params: TrainingParams,
               build_model: Callable[[], tf_keras.Model], loss_fn: LossFn,
               num_train_steps: int, num_warmup_steps: int,
               accuracy_name: str = "accuracy"):
    """Builds everything under the strategy; `build_model` must build weights.

    Raises:
      distribution.StrategyError: the strategy cannot be built or the batch
        does not divide over its replicas.
    """
    self.params = params
    self.num_train_steps = num_train_steps
    self._accuracy_name = accuracy_name
    self.strategy = distribution.make_strategy(params.distribution_strategy,
                                               params.tpu)
    per_replica = distribution.per_replica_batch_size(params.train_batch_size,
                                                      self.strategy)
    logging.info("%s: %d replicas, %d examples each",
                 type(self.strategy).__name__,
                 self.strategy.num_replicas_in_sync, per_replica)
    tf_keras.utils.set_random_seed(params.seed)
    tf_keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if params.dtype == "bfloat16" else "float32")
    with self.strategy.scope():
      self.model = build_model()
      self.schedule = optimization.WarmupLinearDecay(
          params.learning_rate, num_warmup_steps, num_train_steps)
      self.optimizer = optimization.create_optimizer(
          self.schedule, params.weight_decay, params.adam_beta_1,
          params.adam_beta_2, params.adam_epsilon)
      self.optimizer.build(self.model.trainable_variables)
      self.step = TrainStep(self.model, loss_fn, self.optimizer,
                            params.clip_norm, params.jit_compile)
    decayed, excluded = optimization.split_by_weight_decay(
        self.model.trainable_variables)
    logging.info("AdamW: %d variables decayed, %d excluded by %s",
                 len(decayed), len(excluded),
                 optimization.WEIGHT_DECAY_EXCLUDE)
    self.checkpoint = tf.train.Checkpoint(optimizer=self.optimizer,
                                          **self.model.checkpoint_items)
    self.is_chief = distribution.is_chief(self.strategy)
    self.save_dir = (params.model_dir if self.is_chief else
                     tempfile.mkdtemp(prefix="worker-"))
    self._resumed_from: Optional[str] = None
    self._train_loop: Optional[tf.types.experimental.GenericFunction] = None

  @property
  def global_step(self) -> int:
    return int(self.optimizer.iterations.numpy())

  def resume(self) -> Optional[str]:
    """Restores the latest checkpoint of `model_dir`, if any; returns it.

    Every worker reads the chief's `model_dir`, so all of them resume together.

    Raises:
      checkpoints.CheckpointMismatchError: the checkpoint is of another
        architecture (the first mismatching variable and both shapes named).
    """
    latest = tf.train.latest_checkpoint(self.params.model_dir)
    if latest:
      checkpoints.plan_restore(latest, **self.model.checkpoint_items)
      self.checkpoint.restore(latest).assert_existing_objects_matched()
      self._resumed_from = latest
    return latest

  def train(self, dataset_fn: Callable[[int], input_feed.DatasetFn],
            on_checkpoint: Optional[CheckpointHook] = None) -> dict[str, float]:
    """Trains from the current step to `num_train_steps`; returns the last
    logged metrics (empty if there was nothing left to train).

    `dataset_fn(seed_offset)` returns the function building one input
    pipeline's dataset; multi-worker and TPU feeds re-seed with the step.
    """
    params, strategy = self.params, self.strategy
    step = self.global_step
    feed = input_feed.InputFeed(strategy, dataset_fn, params.train_batch_size,
                                step)
    if feed.checkpointable:
      self.checkpoint.train_iterator = feed.iterator
      if self._resumed_from:
        tf.train.Checkpoint(train_iterator=feed.iterator).read(
            self._resumed_from).assert_existing_objects_matched()
    else:
      logging.info("%s input: the position is not checkpointable; a resumed "
                   "run re-seeds the input order with the step",
                   type(strategy).__name__)
    manager = tf.train.CheckpointManager(
        self.checkpoint, self.save_dir, max_to_keep=params.keep_checkpoint_max,
        step_counter=self.optimizer.iterations)

    @tf.function
    def train_loop(num_steps):
      for _ in tf.range(num_steps):
        strategy.run(self.step.replica_train_step, args=(feed.next(),))
    self._train_loop = train_loop

    writer = tf.summary.create_file_writer(
        os.path.join(self.save_dir, "summaries", "train"))
    progress = ProgressLogger(self.num_train_steps, params.train_batch_size,
                              accuracy_name=self._accuracy_name)
    progress.start(step)
    metrics: dict[str, float] = {}
    while step < self.num_train_steps:
      next_save = (step // params.save_checkpoints_steps + 1) * (
          params.save_checkpoints_steps)
      train_loop(tf.constant(min(params.steps_per_loop, next_save - step,
                                 self.num_train_steps - step)))
      step = self.global_step
      loss, accuracy = self.step.read_and_reset_metrics()
      learning_rate = float(self.schedule(step - 1))  # The last step's rate.
      metrics = progress.log(step, loss, accuracy, learning_rate)
      if step % params.save_checkpoints_steps == 0 or (
          step == self.num_train_steps):
        manager.save(checkpoint_number=step)
        if on_checkpoint:
          metrics.update(on_checkpoint(step))
        progress.exclude_pause()
      with writer.as_default(step=step):
        for name, value in metrics.items():
          tf.summary.scalar(name, value)
    writer.flush()
    return metrics

  def traces(self) -> dict[str, int]:
    """How often the loop and the step were traced: 1 each, or shapes moved."""
    loop = self._train_loop
    return {"train_loop_traces":
                loop.experimental_get_tracing_count() if loop else 0,
            "train_step_traces": self.step.compiled_forward_backward
                                 .experimental_get_tracing_count()}

  def close(self) -> None:
    """Removes a non-chief worker's private checkpoint directory."""
    if not self.is_chief:
      shutil.rmtree(self.save_dir, ignore_errors=True)
