"""What every training run does around its model: the shared harness.

Pre-training and the fine-tuning tasks differ in their model, loss, data and
what they do at a checkpoint; everything else lives here, once:
  - the strategy (TPU, local devices, multi-worker or one device), the global
    batch split over replicas and `--gradient_accumulation_steps`, seeds, the
    float32 / mixed_bfloat16 / mixed_float16 policy (float16 with dynamic loss
    scaling) and `--recompute_layers`;
  - AdamW on the warmup-then-linear-decay schedule and the shared `TrainStep`;
  - the memory plan, logged before the first step: a run that cannot fit the
    device stops there, naming the flag that would make it fit;
  - resuming from the latest checkpoint in `model_dir` (model, optimizer, step
    and, on one worker, the input position), with shapes checked first;
  - the host loop: `steps_per_loop` compiled steps per call, a progress line,
    TensorBoard scalars, checkpoints every `save_checkpoints_steps` (steps
    count optimizer steps: accumulation happens inside one, so checkpoints
    only ever fall between whole steps);
  - multi-worker runs: only the chief writes to `model_dir`; the other workers
    save into a private temporary directory, removed by `close()`.
"""

import math
import os
import shutil
import tempfile
import time
from typing import Callable, Optional

from absl import logging
import tensorflow as tf
import tf_keras

from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.training import distribution
from rembert_tf.training import input_feed
from rembert_tf.training import memory_plan as memory_plan_lib
from rembert_tf.training import optimization
from rembert_tf.training import params as params_lib
from rembert_tf.training.params import TrainingParams
from rembert_tf.training.progress import ProgressLogger
from rembert_tf.training.train_step import LossFn
from rembert_tf.training.train_step import TrainStep

# (step) -> metrics to log and summarise, run after each checkpoint is saved.
CheckpointHook = Callable[[int], dict[str, float]]


def _initial_loss_scale(micro_batch_size: int) -> float:
  """2^15 (Keras's start for a mean loss) per example of the micro-batch.

  The step's loss is a sum over the micro-batch, whose weight gradients are
  larger than a mean's by its size: started at 2^15, float16 would overflow
  and skip the first log2(size) steps. The scale stays dynamic: halved at a
  non-finite step (skipped), doubled after 2000 finite ones.
  """
  return 2.0 ** max(0, 15 - math.ceil(math.log2(micro_batch_size)))


def _recompute_layers(model: tf_keras.Model) -> None:
  """Turns on activation recomputation in every encoder of `model`.

  Raises:
    params_lib.TrainingParamsError: the layers have dropout, which the
      recomputed forward pass would redraw (wrong gradients).
  """
  for encoder in model.submodules:
    if not isinstance(encoder, RemBertEncoder):
      continue
    config = encoder.config
    if config.hidden_dropout_prob or config.attention_probs_dropout_prob:
      raise params_lib.TrainingParamsError(
          "--recompute_layers needs a config without dropout in its layers "
          f"(hidden_dropout_prob {config.hidden_dropout_prob}, "
          f"attention_probs_dropout_prob "
          f"{config.attention_probs_dropout_prob}): the recomputed forward "
          "pass would draw new dropout masks")
    encoder.recompute_layers = True


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
    self.micro_batch_size = distribution.micro_batch_size(
        params.train_batch_size, self.strategy,
        params.gradient_accumulation_steps)
    logging.info("%s: %d replicas, %d micro-batch(es) of %d examples each "
                 "per step", type(self.strategy).__name__,
                 self.strategy.num_replicas_in_sync,
                 params.gradient_accumulation_steps, self.micro_batch_size)
    tf_keras.utils.set_random_seed(params.seed)
    tf_keras.mixed_precision.set_global_policy(
        params_lib.POLICIES[params.dtype])
    with self.strategy.scope():
      self.model = build_model()
      if params.recompute_layers:
        _recompute_layers(self.model)
      self.schedule = optimization.WarmupLinearDecay(
          params.learning_rate, num_warmup_steps, num_train_steps)
      self.optimizer = optimization.create_optimizer(
          self.schedule, params.weight_decay, params.adam_beta_1,
          params.adam_beta_2, params.adam_epsilon)
      if params.dtype == "float16":
        self.optimizer = tf_keras.mixed_precision.LossScaleOptimizer(
            self.optimizer, initial_scale=_initial_loss_scale(
                self.micro_batch_size))
      self.optimizer.build(self.model.trainable_variables)
      self.step = TrainStep(self.model, loss_fn, self.optimizer,
                            params.clip_norm, params.jit_compile,
                            params.gradient_accumulation_steps)
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
    """Restores the newest complete checkpoint of `model_dir`; returns it.

    Every worker reads the chief's `model_dir`, so all of them resume
    together. A checkpoint that does not read back (a save killed half-way, a
    truncated data file) is skipped for the one before it, with a warning.

    Raises:
      checkpoints.CheckpointMismatchError: the checkpoint is of another
        architecture (the first mismatching variable and both shapes named).
    """
    candidates = checkpoints.checkpoint_candidates(self.params.model_dir)
    for i, candidate in enumerate(candidates):
      checkpoints.plan_restore(candidate, self.model.checkpoint_items)
      try:
        # The input position is restored with the input, in `train`.
        self.checkpoint.restore(candidate).assert_existing_objects_matched(
            ).expect_partial()
      except checkpoints.READ_ERRORS as e:
        logging.warning("%s does not read back (%s); resuming from the "
                        "checkpoint before it", candidate,
                        checkpoints.describe(e))
        continue
      except AssertionError:
        # The model matched (plan_restore), so the optimizer's structure did
        # not: float16's LossScaleOptimizer wraps the one the others save.
        raise checkpoints.CheckpointMismatchError(
            f"{candidate}: its optimizer state does not match this run's "
            f"(--dtype={self.params.dtype}; float16 adds a loss scale, the "
            "others have none). Resume with the --dtype it was trained with, "
            "or fine-tune from it in a new --model_dir with --init_checkpoint"
            f"={candidate}") from None
      if self.is_chief:
        # The state file may name an older one (a kill while it was written):
        # it must list what is resumed from and the complete ones before it,
        # which the CheckpointManager then keeps to --keep_checkpoint_max.
        kept = candidates[i:][::-1]
        now = time.time()  # Newer than "last preserved": they may rotate out.
        tf.compat.v1.train.update_checkpoint_state(
            self.params.model_dir, candidate, all_model_checkpoint_paths=kept,
            all_model_checkpoint_timestamps=[now] * len(kept),
            last_preserved_timestamp=now - 1)
      self._resumed_from = candidate
      return candidate
    return None

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
    self._check_memory(feed.example_shapes())
    if feed.checkpointable:
      self.checkpoint.train_iterator = feed.iterator
      if self._resumed_from:
        # Only the iterator: the model and optimizer were restored by resume().
        tf.train.Checkpoint(train_iterator=feed.iterator).read(
            self._resumed_from).assert_existing_objects_matched(
                ).expect_partial()
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

  def memory_plan(self, shapes: dict[str, tf.TensorShape]
                  ) -> memory_plan_lib.MemoryPlan:
    """The plan of this run's step on inputs of `shapes` (per example)."""
    masked = shapes.get("masked_lm_positions")
    return memory_plan_lib.plan(memory_plan_lib.Workload(
        config=self.model.config, seq_length=shapes["input_word_ids"][0],
        micro_batch_size=self.micro_batch_size,
        mlm_predictions=masked[0] if masked else 0,
        accumulation_steps=self.params.gradient_accumulation_steps,
        recompute_layers=self.params.recompute_layers,
        dtype=self.params.dtype))

  def _check_memory(self, shapes: dict[str, tf.TensorShape]) -> None:
    """Logs the plan; stops a run that cannot fit before its first step.

    Raises:
      params_lib.TrainingParamsError: the plan exceeds the device's memory;
        the message names the flags that would make it fit.
    """
    plan = self.memory_plan(shapes)
    device = distribution.device_memory(self.strategy)
    if device is None:
      logging.info("memory plan per replica: %s (this device does not "
                   "report its memory)", plan.describe())
      return
    verdict = memory_plan_lib.verdict(plan, *device)
    logging.info("memory plan per replica: %s; %s", plan.describe(), verdict)
    if not plan.fits(device[0]):
      raise params_lib.TrainingParamsError(
          f"--train_batch_size={self.params.train_batch_size}: the step "
          f"needs {memory_plan_lib.size(plan.needed)} per replica and "
          f"{verdict}")

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
