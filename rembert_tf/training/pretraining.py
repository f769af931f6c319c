"""The MLM pre-training loop: one function from settings to checkpoints and metrics.

Everything a run needs is checked before the first step: the config, the data's
metadata against the config and flags, the strategy and batch split, and any
checkpoint against the model's shapes. Training then runs `steps_per_loop` steps
per host call in a compiled function. Checkpoints hold the model, the optimizer
(slots and step) and the input iterator, so a run killed at any moment and started
again with the same command continues exactly where its last checkpoint was taken.
"""

import dataclasses
import os
import shutil
import tempfile
from typing import Any, Optional

from absl import logging
import tensorflow as tf
import tf_keras

from rembert_tf.configs import load_config
from rembert_tf.data import input_pipeline
from rembert_tf.data import metadata as metadata_lib
from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.losses import masked_lm_sums
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from rembert_tf.training import distribution
from rembert_tf.training import input_feed
from rembert_tf.training import optimization
from rembert_tf.training import run_files
from rembert_tf.training.progress import ProgressLogger

METRICS_FILE = "metrics.json"
ENCODER_DIR = "encoder"


class PretrainingError(ValueError):
  """A setting, file or checkpoint that cannot work; the message says which."""


@dataclasses.dataclass(frozen=True)
class PretrainingParams:
  """What `run_pretraining.py`'s flags set (same names)."""
  config_file: str
  input_dir: str
  model_dir: str
  eval_input_dir: Optional[str] = None
  init_checkpoint: Optional[str] = None
  train_batch_size: int = 32
  eval_batch_size: int = 32
  max_seq_length: int = 128
  max_predictions_per_seq: int = 20
  num_train_steps: int = 1000
  num_warmup_steps: int = 100
  learning_rate: float = 2e-4
  weight_decay: float = 0.01
  adam_beta_1: float = 0.9
  adam_beta_2: float = 0.999
  adam_epsilon: float = 1e-6
  clip_norm: float = 1.0
  steps_per_loop: int = 100
  save_checkpoints_steps: int = 1000
  keep_checkpoint_max: int = 5
  eval_steps: int = 100
  distribution_strategy: str = "auto"
  tpu: Optional[str] = None
  dtype: str = "float32"
  jit_compile: bool = False
  seed: int = 12345


class _Run:
  """The objects one run builds, kept together for the step functions."""

  def __init__(self, params: PretrainingParams, strategy: tf.distribute.Strategy):
    self.params = params
    self.strategy = strategy
    self.config = load_config(params.config_file)
    with strategy.scope():
      self.model = RemBertPretrainer(self.config)
      self.model(self.model.dummy_inputs(1, params.max_seq_length))
      self.schedule = optimization.WarmupLinearDecay(
          params.learning_rate, params.num_warmup_steps, params.num_train_steps)
      self.optimizer = optimization.create_optimizer(
          self.schedule, params.weight_decay, params.adam_beta_1, params.adam_beta_2,
          params.adam_epsilon)
      self.optimizer.build(self.model.trainable_variables)
      self.sums = [tf_keras.metrics.Sum(name=n, dtype=tf.float64)
                   for n in ("loss", "correct", "weight")]
    self.compiled_forward_backward = tf.function(
        self.forward_backward, jit_compile=params.jit_compile)

  def forward_backward(self, features: dict[str, tf.Tensor]):
    """Gradients of this replica's summed loss, and its MLM sums.

    Kept free of cross-replica ops so that `--jit_compile` can compile it.
    """
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      logits = self.model(features, training=True)["mlm_logits"]
      sums = masked_lm_sums(logits, features["masked_lm_ids"],
                            features["masked_lm_weights"])
    return tape.gradient(sums.loss, variables), sums

  def replica_train_step(self, features: dict[str, tf.Tensor]) -> None:
    """Mean loss over the global batch's predictions; clip; AdamW.

    The loss is the sum over all replicas divided by the global number of real
    predictions, so its gradient is the replicas' summed gradients over that
    number; clipping then sees the same gradient for every replica count.
    """
    context = tf.distribute.get_replica_context()
    grads, sums = self.compiled_forward_backward(features)
    total_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, sums.weight)
    grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    scale = 1.0 / tf.maximum(total_weight, 1.0)
    grads = [g * scale if isinstance(g, tf.Tensor) else
             tf.IndexedSlices(g.values * scale, g.indices, g.dense_shape)
             for g in grads]
    grads, _ = tf.clip_by_global_norm(grads, self.params.clip_norm)
    self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables),
                                   skip_gradients_aggregation=True)
    for metric, value in zip(self.sums, sums):
      metric.update_state(tf.cast(value, tf.float64))

  def replica_eval_step(self, features: dict[str, tf.Tensor]) -> None:
    logits = self.model(features, training=False)["mlm_logits"]
    sums = masked_lm_sums(logits, features["masked_lm_ids"],
                          features["masked_lm_weights"])
    for metric, value in zip(self.sums, sums):
      metric.update_state(tf.cast(value, tf.float64))

  def read_and_reset_metrics(self) -> tuple[float, float]:
    loss, correct, weight = (float(m.result()) for m in self.sums)
    for m in self.sums:
      m.reset_state()
    return loss / max(weight, 1.0), correct / max(weight, 1.0)


def _dataset_fn(params: PretrainingParams, input_dir: str, global_batch: int,
                vocab_size: int, is_training: bool, seed_offset: int = 0):
  def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
    return input_pipeline.make_pretraining_dataset(
        input_dir, batch_size=context.get_per_replica_batch_size(global_batch),
        max_seq_length=params.max_seq_length,
        max_predictions_per_seq=params.max_predictions_per_seq,
        vocab_size=vocab_size, is_training=is_training,
        seed=params.seed + seed_offset, input_context=context)
  return make


def _check_data(params: PretrainingParams, input_dir: str, flag: str,
                vocab_size: int) -> None:
  """Fails before training when the data was prepared with other settings."""
  try:
    metadata_lib.validate(metadata_lib.read_metadata(input_dir),
                          max_seq_length=params.max_seq_length,
                          max_predictions_per_seq=params.max_predictions_per_seq,
                          vocab_size=vocab_size)
  except metadata_lib.MetadataError as e:
    raise PretrainingError(f"--{flag}: {e}") from None


def _is_chief(strategy: tf.distribute.Strategy) -> bool:
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (
      resolver.task_type == "worker" and resolver.task_id == 0
      and "chief" not in resolver.cluster_spec().as_dict())


def _restore(run: _Run, checkpoint: tf.train.Checkpoint) -> str:
  """Resumes from model_dir, else starts from init_checkpoint, else fresh.

  Every worker reads the chief's model_dir, so all of them resume together.
  """
  items = run.model.checkpoint_items
  latest = tf.train.latest_checkpoint(run.params.model_dir)
  if latest:
    checkpoints.plan_restore(latest, **items)
    checkpoint.restore(latest).assert_existing_objects_matched()
    return (f"resuming from {latest} (model, optimizer, "
            f"step {int(run.optimizer.iterations.numpy())} and input position)")
  if run.params.init_checkpoint:
    path = checkpoints.resolve_checkpoint(run.params.init_checkpoint)
    present, absent = checkpoints.plan_restore(path, **items)
    if not present:
      raise PretrainingError(f"--init_checkpoint={path} holds no variable of "
                             "this model")
    reader = tf.train.load_checkpoint(path)
    for variable, key in present:
      variable.assign(reader.get_tensor(key))
    fresh = f"; {len(absent)} variables start fresh" if absent else ""
    return (f"initialising weights from --init_checkpoint={path} "
            f"({len(present)} variables{fresh}); fresh optimizer, step 0")
  return "training from scratch (no checkpoint in model_dir, no init_checkpoint)"


def _evaluate(run: _Run, eval_dataset, eval_step) -> dict[str, float]:
  seen = 0
  for batch in eval_dataset:
    if seen == run.params.eval_steps:
      break
    eval_step(batch)
    seen += 1
  loss, accuracy = run.read_and_reset_metrics()
  return {"eval_loss": loss, "eval_accuracy": accuracy, "eval_batches": seen}


def _check_params(params: PretrainingParams) -> None:
  """Flag values that cannot work, named by flag."""
  for name in ("train_batch_size", "eval_batch_size", "num_train_steps",
               "steps_per_loop", "save_checkpoints_steps",
               "keep_checkpoint_max", "eval_steps", "max_seq_length",
               "max_predictions_per_seq"):
    if getattr(params, name) < 1:
      raise PretrainingError(f"--{name} must be at least 1, got "
                             f"{getattr(params, name)}")
  if not 0 <= params.num_warmup_steps < params.num_train_steps:
    raise PretrainingError(
        f"--num_warmup_steps ({params.num_warmup_steps}) must be in "
        f"[0, --num_train_steps ({params.num_train_steps}))")
  if params.dtype not in ("float32", "bfloat16"):
    raise PretrainingError(f"--dtype={params.dtype!r}: use float32 or bfloat16")


def run_pretraining(params: PretrainingParams) -> dict[str, Any]:
  """Trains to `num_train_steps` (resuming if model_dir has checkpoints).

  Returns the final metrics, also written to `model_dir/metrics.json`.
  """
  _check_params(params)
  config = load_config(params.config_file)
  _check_data(params, params.input_dir, "input_dir", config.vocab_size)
  if params.eval_input_dir:
    _check_data(params, params.eval_input_dir, "eval_input_dir",
                config.vocab_size)
  if params.max_seq_length > config.max_position_embeddings:
    raise PretrainingError(
        f"--max_seq_length={params.max_seq_length} exceeds the config's "
        f"max_position_embeddings ({config.max_position_embeddings})")
  strategy = distribution.make_strategy(params.distribution_strategy,
                                        params.tpu)
  per_replica = distribution.per_replica_batch_size(params.train_batch_size,
                                                    strategy)
  logging.info("%s: %d replicas, %d examples each", type(strategy).__name__,
               strategy.num_replicas_in_sync, per_replica)
  tf_keras.utils.set_random_seed(params.seed)
  tf_keras.mixed_precision.set_global_policy(
      "mixed_bfloat16" if params.dtype == "bfloat16" else "float32")
  run = _Run(params, strategy)

  decayed, excluded = optimization.split_by_weight_decay(
      run.model.trainable_variables)
  logging.info("AdamW: %d variables decayed, %d excluded by %s", len(decayed),
               len(excluded), optimization.WEIGHT_DECAY_EXCLUDE)

  checkpoint = tf.train.Checkpoint(optimizer=run.optimizer,
                                   **run.model.checkpoint_items)
  # The input is built after restoring the step, which a TPU or multi-worker
  # feed uses to re-seed; a single-worker feed's position is restored below.
  logging.info("%s", _restore(run, checkpoint))
  feed = input_feed.InputFeed(
      strategy,
      lambda offset: _dataset_fn(params, params.input_dir,
                                 params.train_batch_size, config.vocab_size,
                                 is_training=True, seed_offset=offset),
      params.train_batch_size, int(run.optimizer.iterations.numpy()))
  if feed.checkpointable:
    checkpoint.train_iterator = feed.iterator
    latest = tf.train.latest_checkpoint(params.model_dir)
    if latest:
      tf.train.Checkpoint(train_iterator=feed.iterator).read(
          latest).assert_existing_objects_matched()
  else:
    logging.info("%s input: the position is not checkpointable; a resumed run "
                 "re-seeds the input order with the step",
                 type(strategy).__name__)
  chief = _is_chief(strategy)
  save_dir = params.model_dir if chief else tempfile.mkdtemp(prefix="worker-")
  manager = tf.train.CheckpointManager(
      checkpoint, save_dir, max_to_keep=params.keep_checkpoint_max,
      step_counter=run.optimizer.iterations)

  @tf.function
  def train_steps(num_steps):
    for _ in tf.range(num_steps):
      strategy.run(run.replica_train_step, args=(feed.next(),))

  @tf.function
  def eval_step(batch):
    strategy.run(run.replica_eval_step, args=(batch,))

  writer = tf.summary.create_file_writer(
      os.path.join(save_dir, "summaries", "train"))
  progress = ProgressLogger(params.num_train_steps, params.train_batch_size)
  step = int(run.optimizer.iterations.numpy())
  progress.start(step)
  last_metrics: dict[str, Any] = {}
  while step < params.num_train_steps:
    next_save = (step // params.save_checkpoints_steps + 1) * (
        params.save_checkpoints_steps)
    num_steps = min(params.steps_per_loop, next_save - step,
                    params.num_train_steps - step)
    train_steps(tf.constant(num_steps))
    step = int(run.optimizer.iterations.numpy())
    loss, accuracy = run.read_and_reset_metrics()
    learning_rate = float(run.schedule(step - 1))  # The last step's rate.
    last_metrics = progress.log(step, loss, accuracy, learning_rate)
    with writer.as_default(step=step):
      for name, value in last_metrics.items():
        tf.summary.scalar(name, value)
    if step % params.save_checkpoints_steps == 0 or step == params.num_train_steps:
      manager.save(checkpoint_number=step)
      if params.eval_input_dir:
        eval_dataset = strategy.distribute_datasets_from_function(_dataset_fn(
            params, params.eval_input_dir, params.eval_batch_size,
            config.vocab_size, is_training=False))
        eval_metrics = _evaluate(run, eval_dataset, eval_step)
        logging.info("eval at step %d: loss %.4f, MLM accuracy %.4f "
                     "(%d batches)", step, eval_metrics["eval_loss"],
                     eval_metrics["eval_accuracy"], eval_metrics["eval_batches"])
        with writer.as_default(step=step):
          for name in ("eval_loss", "eval_accuracy"):
            tf.summary.scalar(name, eval_metrics[name])
        last_metrics.update(eval_metrics)
      progress.exclude_pause()
  writer.flush()
  # Static shapes: one trace per run; more would mean retracing (recompiles).
  traces = {"train_loop_traces": train_steps.experimental_get_tracing_count(),
            "train_step_traces":
                run.compiled_forward_backward.experimental_get_tracing_count()}
  logging.info("traced: %s", traces)
  results = {"step": step, **last_metrics, **traces}
  if chief:
    encoder_prefix = tf.train.Checkpoint(encoder=run.model.encoder).write(
        os.path.join(params.model_dir, ENCODER_DIR, f"encoder-{step}"))
    config.to_json_file(os.path.join(params.model_dir, "config.json"))
    results["encoder_checkpoint"] = encoder_prefix
    results["checkpoint"] = manager.latest_checkpoint
    run_files.write_json(os.path.join(params.model_dir, METRICS_FILE), results)
  else:
    shutil.rmtree(save_dir, ignore_errors=True)
  return results
