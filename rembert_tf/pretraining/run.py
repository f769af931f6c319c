"""MLM pre-training: one function from settings to checkpoints and metrics.

Everything a run needs is checked before the first step: the config, the data's
metadata against the config and flags, the strategy and batch split, and any
checkpoint against the model's shapes. The shared `Trainer` then runs
`steps_per_loop` steps per host call in a compiled function, and checkpoints
hold the model, the optimizer (slots and step) and the input iterator, so a run
killed at any moment and started again with the same command continues exactly
where its last checkpoint was taken.
"""

import contextlib
import dataclasses
import os
from typing import Any, Iterator, Optional

from absl import logging
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.configs import load_config
from rembert_tf.data import input_pipeline
from rembert_tf.data import metadata as metadata_lib
from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.losses import LossSums
from rembert_tf.modeling.losses import masked_lm_sums
from rembert_tf.modeling.pretrainer import RemBertPretrainer
from rembert_tf.training import params as params_lib
from rembert_tf.training.trainer import Trainer

METRICS_FILE = "metrics.json"
ENCODER_DIR = "encoder"


class PretrainingError(ValueError):
  """A setting, file or checkpoint that cannot work; the message says which."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PretrainingParams(params_lib.TrainingParams):
  """What `run_pretraining.py`'s flags set (same names)."""
  config_file: str
  input_dir: str
  eval_input_dir: Optional[str] = None
  eval_batch_size: int = 32
  max_seq_length: int = 128
  max_predictions_per_seq: int = 20
  num_train_steps: int = 1000
  num_warmup_steps: int = 100
  eval_steps: int = 100


def mlm_loss(model: RemBertPretrainer, features: dict[str, tf.Tensor],
             training: bool) -> LossSums:
  """The masked-LM sums of one batch (loss over real predictions only)."""
  logits = model(features, training=training)["mlm_logits"]
  return masked_lm_sums(logits, features["masked_lm_ids"],
                        features["masked_lm_weights"])


def build_trainer(params: PretrainingParams,
                  config: RemBertConfig) -> Trainer:
  """The pre-trainer under its strategy, with AdamW on the paper's schedule."""
  def build_model() -> RemBertPretrainer:
    model = RemBertPretrainer(config)
    model(model.dummy_inputs(1, params.max_seq_length))
    return model
  return Trainer(params, build_model, mlm_loss, params.num_train_steps,
                 params.num_warmup_steps, accuracy_name="mlm_accuracy")


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
                config: RemBertConfig) -> None:
  """Fails before training when the data was prepared with other settings
  or for another vocabulary, or its records are not what its metadata says."""
  try:
    meta = metadata_lib.read_metadata(input_dir)
    metadata_lib.validate(meta, input_dir,
                          max_seq_length=params.max_seq_length,
                          max_predictions_per_seq=params.max_predictions_per_seq,
                          vocab_size=config.vocab_size,
                          special_ids=config.special_ids())
    input_pipeline.check_first_records(input_dir, meta)
  except file_io.MetadataError as e:
    raise PretrainingError(f"--{flag}: {e}") from None


@contextlib.contextmanager
def _naming_damaged_shards(data_dir: str, flag: str) -> Iterator[None]:
  """Turns TensorFlow's DataLossError, which names no file, into an error
  naming the damaged shard(s) of `data_dir` and the fix.

  Checking every record before training would read all the data at each
  start; instead the shards are read to find the damaged one only after a
  read failed (checkpoints let the fixed run resume).
  """
  try:
    yield
  except tf.errors.DataLossError as e:
    logging.warning("%s in --%s; reading its shards to find the damaged one",
                    input_pipeline.data_loss_reason(e), flag)
    damaged = input_pipeline.damaged_shards(
        data_dir, metadata_lib.read_metadata(data_dir))
    if not damaged:
      raise PretrainingError(
          f"--{flag}={data_dir}: {input_pipeline.data_loss_reason(e)} in a "
          "shard that reads back intact now (a transient read error?); run "
          "again to resume") from None
    raise PretrainingError(
        f"--{flag}={data_dir}: {', '.join(damaged)}: truncated or corrupt; "
        f"{input_pipeline.REGENERATE_SHARD}") from None


def _initialize(trainer: Trainer, params: PretrainingParams) -> str:
  """Resumes from model_dir, else starts from init_checkpoint, else fresh."""
  latest = trainer.resume()
  if latest:
    return (f"resuming from {latest} (model, optimizer, step "
            f"{trainer.global_step} and input position)")
  if params.init_checkpoint:
    report = checkpoints.restore(trainer.model.checkpoint_items,
                                 params.init_checkpoint, optional=("masked_lm",))
    fresh = (f"; {len(report.fresh)} variables start fresh" if report.fresh
             else "")
    return (f"initialising weights from --init_checkpoint={report.checkpoint} "
            f"({report.restored_variables} variables{fresh}); fresh optimizer, "
            "step 0")
  return "training from scratch (no checkpoint in model_dir, no init_checkpoint)"


def _evaluator(trainer: Trainer, params: PretrainingParams,
               vocab_size: int):
  """The checkpoint hook: MLM loss and accuracy on `eval_input_dir`."""
  strategy = trainer.strategy

  @tf.function
  def eval_step(batch):
    strategy.run(trainer.step.replica_eval_step, args=(batch,))

  def evaluate(step: int) -> dict[str, float]:
    dataset = strategy.distribute_datasets_from_function(_dataset_fn(
        params, params.eval_input_dir, params.eval_batch_size, vocab_size,
        is_training=False))
    seen = 0
    with _naming_damaged_shards(params.eval_input_dir, "eval_input_dir"):
      for batch in dataset:
        if seen == params.eval_steps:
          break
        eval_step(batch)
        seen += 1
    loss, accuracy = trainer.step.read_and_reset_metrics()
    logging.info("eval at step %d: loss %.4f, MLM accuracy %.4f (%d batches)",
                 step, loss, accuracy, seen)
    return {"eval_loss": loss, "eval_accuracy": accuracy, "eval_batches": seen}
  return evaluate


def _check_params(params: PretrainingParams) -> None:
  """Flag values that cannot work, named by flag."""
  params_lib.check_training_params(params)
  params_lib.check_positive(params, "eval_batch_size", "num_train_steps",
                            "eval_steps", "max_seq_length",
                            "max_predictions_per_seq")
  if not 0 <= params.num_warmup_steps < params.num_train_steps:
    raise PretrainingError(
        f"--num_warmup_steps ({params.num_warmup_steps}) must be in "
        f"[0, --num_train_steps ({params.num_train_steps}))")


def run_pretraining(params: PretrainingParams) -> dict[str, Any]:
  """Trains to `num_train_steps` (resuming if model_dir has checkpoints).

  Returns the final metrics, also written to `model_dir/metrics.json`.
  """
  _check_params(params)
  config = load_config(params.config_file)
  _check_data(params, params.input_dir, "input_dir", config)
  if params.eval_input_dir:
    _check_data(params, params.eval_input_dir, "eval_input_dir", config)
  if params.max_seq_length > config.max_position_embeddings:
    raise PretrainingError(
        f"--max_seq_length={params.max_seq_length} exceeds the config's "
        f"max_position_embeddings ({config.max_position_embeddings})")
  trainer = build_trainer(params, config)
  # The input is built after restoring the step, which a TPU or multi-worker
  # feed uses to re-seed; a single-worker feed's position is restored too.
  logging.info("%s", _initialize(trainer, params))
  with _naming_damaged_shards(params.input_dir, "input_dir"):
    metrics = trainer.train(
        lambda offset: _dataset_fn(params, params.input_dir,
                                   params.train_batch_size, config.vocab_size,
                                   is_training=True, seed_offset=offset),
        _evaluator(trainer, params, config.vocab_size)
        if params.eval_input_dir else None)
  # Static shapes: one trace per run; more would mean retracing (recompiles).
  traces = trainer.traces()
  logging.info("traced: %s", traces)
  results = {"step": trainer.global_step, **metrics, **traces}
  if trainer.is_chief:
    encoder_prefix = tf.train.Checkpoint(encoder=trainer.model.encoder).write(
        os.path.join(params.model_dir, ENCODER_DIR,
                     f"encoder-{trainer.global_step}"))
    config.to_json_file(os.path.join(params.model_dir, "config.json"))
    results["encoder_checkpoint"] = encoder_prefix
    results["checkpoint"] = tf.train.latest_checkpoint(params.model_dir)
    file_io.write_json(os.path.join(params.model_dir, METRICS_FILE), results)
  trainer.close()
  return results
