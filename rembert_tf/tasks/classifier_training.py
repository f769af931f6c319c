"""Fine-tuning on English, then zero-shot evaluation on every language.

One function from settings to checkpoints, accuracy table, predictions and a
SavedModel. As in pre-training, everything is checked before the first step
(data metadata against config and flags, every evaluation file, the batch split,
the checkpoint's shapes), and a run started again with the same command resumes
from the latest checkpoint in `model_dir` (model, optimizer, step and, on one
worker, input position); `init_checkpoint` is only used by a fresh run.
"""

import dataclasses
import math
import os
from typing import Any, Optional, Sequence

from absl import logging
import tensorflow as tf
import tf_keras

from rembert_tf.configs import load_config
from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks import classification_data
from rembert_tf.tasks import classifier_input
from rembert_tf.tasks import classifier_model
from rembert_tf.tasks import evaluation
from rembert_tf.tasks import export
from rembert_tf.tasks import predictions
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training import distribution
from rembert_tf.training import input_feed
from rembert_tf.training import optimization
from rembert_tf.training import run_files
from rembert_tf.training.progress import ProgressLogger

RESULTS_FILE = "eval_results.json"
PREDICTIONS_DIR = "predictions"
EXPORT_DIR = "saved_model"


@dataclasses.dataclass(frozen=True)
class ClassifierParams:
  """What `run_classifier.py`'s flags set (same names)."""
  config_file: str
  data_dir: str
  model_dir: str
  init_checkpoint: Optional[str] = None
  num_layers_to_keep: Optional[int] = None
  max_seq_length: int = 128
  train_batch_size: int = 32
  eval_batch_size: int = 32
  learning_rate: float = 2e-5
  num_train_epochs: float = 3.0
  warmup_proportion: float = 0.1
  weight_decay: float = 0.01
  clip_norm: float = 1.0
  steps_per_loop: int = 100
  save_checkpoints_steps: int = 1000
  keep_checkpoint_max: int = 2
  eval_splits: Sequence[str] = ("dev",)
  do_train: bool = True
  do_eval: bool = True
  do_export: bool = True
  distribution_strategy: str = "auto"
  tpu: Optional[str] = None
  seed: int = 12345


def _check_params(params: ClassifierParams) -> None:
  """Flag values that cannot work, named by flag."""
  for name in ("train_batch_size", "eval_batch_size", "steps_per_loop",
               "save_checkpoints_steps", "keep_checkpoint_max"):
    if getattr(params, name) < 1:
      raise TaskError(f"--{name} must be at least 1, got "
                      f"{getattr(params, name)}")
  if params.num_train_epochs <= 0 or not 0 <= params.warmup_proportion < 1:
    raise TaskError("--num_train_epochs must be positive and "
                    "--warmup_proportion in [0, 1)")


def _check_files(meta: dict[str, Any], params: ClassifierParams) -> None:
  """Every file the run will read exists, before anything starts."""
  wanted = ([classification_data.TRAIN_SPLIT] if params.do_train else []) + (
      list(params.eval_splits) if params.do_eval else [])
  for split in wanted:
    if split not in meta["files"]:
      raise TaskError(f"{params.data_dir} has no {split} split (prepared: "
                      f"{sorted(meta['files'])}); see --eval_splits")
    for lang, info in meta["files"][split].items():
      if not tf.io.gfile.exists(os.path.join(params.data_dir, info["file"])):
        raise TaskError(f"{params.data_dir}: {info['file']} ({split}, {lang}) "
                        "is missing; re-run create_classifier_data.py")


class _Trainer:
  """The model, optimizer and replica steps of one run."""

  def __init__(self, params: ClassifierParams, strategy: tf.distribute.Strategy,
               config: RemBertConfig, num_labels: int, num_train_steps: int):
    self.params = params
    self.strategy = strategy
    with strategy.scope():
      self.model = classifier_model.build_classifier(
          config, num_labels, params.max_seq_length)
      self.schedule = optimization.WarmupLinearDecay(
          params.learning_rate,
          int(params.warmup_proportion * num_train_steps), num_train_steps)
      self.optimizer = optimization.create_optimizer(self.schedule,
                                                     params.weight_decay)
      self.optimizer.build(self.model.trainable_variables)
      self.sums = [tf_keras.metrics.Sum(name=n, dtype=tf.float64)
                   for n in ("loss", "correct", "count")]

  def replica_train_step(self, features: dict[str, tf.Tensor]) -> None:
    """Mean loss over the global batch; all-reduce, then clip, then AdamW."""
    context = tf.distribute.get_replica_context()
    variables = self.model.trainable_variables
    labels = features["label_id"]
    with tf.GradientTape() as tape:
      logits = self.model(features, training=True)["logits"]
      losses = tf_keras.losses.sparse_categorical_crossentropy(
          labels, logits, from_logits=True)
      loss = tf.reduce_sum(losses) / self.params.train_batch_size
    grads = context.all_reduce(tf.distribute.ReduceOp.SUM,
                               tape.gradient(loss, variables))
    grads, _ = tf.clip_by_global_norm(grads, self.params.clip_norm)
    self.optimizer.apply_gradients(zip(grads, variables),
                                   skip_gradients_aggregation=True)
    correct = tf.reduce_sum(tf.cast(
        tf.argmax(logits, -1, output_type=tf.int32) == labels, tf.float64))
    for metric, value in zip(self.sums, (tf.reduce_sum(losses), correct,
                                         tf.size(labels))):
      metric.update_state(tf.cast(value, tf.float64))

  def read_and_reset_metrics(self) -> tuple[float, float]:
    """Mean training loss and accuracy since the last call."""
    loss, correct, count = (float(m.result()) for m in self.sums)
    for m in self.sums:
      m.reset_state()
    return loss / max(count, 1.0), correct / max(count, 1.0)


def _restore(trainer: _Trainer, checkpoint: tf.train.Checkpoint,
             params: ClassifierParams) -> Optional[str]:
  """Resumes from model_dir, else loads init_checkpoint's encoder.

  Returns the checkpoint resumed from, if any.
  """
  latest = tf.train.latest_checkpoint(params.model_dir)
  if latest:
    checkpoints.plan_restore(latest, **trainer.model.checkpoint_items)
    checkpoint.restore(latest).assert_existing_objects_matched()
    logging.info("resuming from %s (step %d)", latest,
                 int(trainer.optimizer.iterations.numpy()))
  elif params.init_checkpoint:
    classifier_model.restore_pretrained_encoder(trainer.model,
                                                params.init_checkpoint)
    logging.info("fine-tuning from --init_checkpoint, fresh head and optimizer")
  elif params.do_train:
    logging.warning("training from scratch: no --init_checkpoint, so this is "
                    "not fine-tuning")
  else:
    raise TaskError(f"nothing to evaluate: no checkpoint in {params.model_dir}")
  return latest


def _train(trainer: _Trainer, checkpoint: tf.train.Checkpoint,
           params: ClassifierParams, train_file: str, num_train_steps: int,
           resumed_from: Optional[str]) -> dict[str, float]:
  strategy = trainer.strategy

  def dataset_fn(offset: int):
    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
      return classifier_input.train_dataset(
          train_file, params.max_seq_length,
          context.get_per_replica_batch_size(params.train_batch_size),
          params.seed + offset, context)
    return make

  step = int(trainer.optimizer.iterations.numpy())
  feed = input_feed.InputFeed(strategy, dataset_fn, params.train_batch_size,
                              step)
  if feed.checkpointable:  # Else a resumed run re-seeds with the step.
    checkpoint.train_iterator = feed.iterator
    if resumed_from:
      tf.train.Checkpoint(train_iterator=feed.iterator).read(
          resumed_from).assert_existing_objects_matched()
  manager = tf.train.CheckpointManager(
      checkpoint, params.model_dir, max_to_keep=params.keep_checkpoint_max,
      step_counter=trainer.optimizer.iterations)

  @tf.function
  def train_steps(num_steps):
    for _ in tf.range(num_steps):
      strategy.run(trainer.replica_train_step, args=(feed.next(),))

  writer = tf.summary.create_file_writer(
      os.path.join(params.model_dir, "summaries", "train"))
  progress = ProgressLogger(num_train_steps, params.train_batch_size,
                            accuracy_name="train_accuracy")
  progress.start(step)
  metrics: dict[str, float] = {}
  while step < num_train_steps:
    next_save = (step // params.save_checkpoints_steps + 1) * (
        params.save_checkpoints_steps)
    train_steps(tf.constant(min(params.steps_per_loop, next_save - step,
                                num_train_steps - step)))
    step = int(trainer.optimizer.iterations.numpy())
    loss, accuracy = trainer.read_and_reset_metrics()
    learning_rate = float(trainer.schedule(step - 1))  # The last step's rate.
    speed = progress.log(step, loss, accuracy, learning_rate)
    metrics = {"loss": loss, "train_accuracy": accuracy,
               "learning_rate": learning_rate,
               "examples_per_second": speed["examples_per_second"]}
    with writer.as_default(step=step):
      for name, value in metrics.items():
        tf.summary.scalar(name, value)
    if step % params.save_checkpoints_steps == 0 or step == num_train_steps:
      manager.save(checkpoint_number=step)
      progress.exclude_pause()
  writer.flush()
  return metrics


def _evaluate(trainer: _Trainer, params: ClassifierParams,
              meta: dict[str, Any]) -> dict[str, Any]:
  """Accuracy per language and split, prediction TSVs, the log table."""
  labels = meta["labels"]
  results = {}
  for split in params.eval_splits:
    per_language = {}
    for lang, info in meta["files"][split].items():
      per_language[lang] = evaluation.evaluate_file(
          trainer.model, trainer.strategy,
          os.path.join(params.data_dir, info["file"]), params.max_seq_length,
          params.eval_batch_size)
      if per_language[lang].num_examples != info["examples"]:
        raise TaskError(f"{info['file']}: read {per_language[lang].num_examples}"
                        f" examples, metadata says {info['examples']}")
      predictions.write_predictions(
          os.path.join(params.model_dir, PREDICTIONS_DIR, f"{split}-{lang}.tsv"),
          labels, per_language[lang].probabilities,
          per_language[lang].label_ids)
    accuracies = {lang: r.accuracy for lang, r in per_language.items()}
    examples = {lang: r.num_examples for lang, r in per_language.items()}
    logging.info("zero-shot %s accuracy (%s, trained on English):\n%s", split,
                 meta["task"],
                 evaluation.accuracy_table(split, accuracies, examples))
    results[split] = {"accuracy": accuracies, "examples": examples,
                      "average": sum(accuracies.values()) / len(accuracies)}
  return results


def run_classifier(params: ClassifierParams) -> dict[str, Any]:
  """Trains (or resumes), evaluates every language, exports; returns results.

  The results are also written to `model_dir/eval_results.json`.
  """
  _check_params(params)
  pretraining_config = load_config(params.config_file)
  meta = classification_data.read_metadata(params.data_dir)
  classification_data.validate(
      meta, params.data_dir, max_seq_length=params.max_seq_length,
      vocab_size=pretraining_config.vocab_size,
      special_ids={"cls": pretraining_config.bos_token_id,
                   "sep": pretraining_config.eos_token_id,
                   "pad": pretraining_config.pad_token_id})
  if params.max_seq_length > pretraining_config.max_position_embeddings:
    raise TaskError(f"--max_seq_length={params.max_seq_length} exceeds the "
                    "config's max_position_embeddings "
                    f"({pretraining_config.max_position_embeddings})")
  _check_files(meta, params)
  config = classifier_model.finetuning_config(pretraining_config,
                                              params.num_layers_to_keep)
  (train_lang, train_info), = meta["files"][
      classification_data.TRAIN_SPLIT].items()
  num_train_steps = max(1, math.ceil(
      params.num_train_epochs * train_info["examples"] /
      params.train_batch_size))
  strategy = distribution.make_strategy(params.distribution_strategy,
                                        params.tpu)
  distribution.per_replica_batch_size(params.train_batch_size, strategy)
  distribution.per_replica_batch_size(params.eval_batch_size, strategy)
  tf_keras.utils.set_random_seed(params.seed)
  trainer = _Trainer(params, strategy, config, len(meta["labels"]),
                     num_train_steps)
  counts = classifier_model.log_parameter_counts(
      pretraining_config, config, len(meta["labels"]))
  checkpoint = tf.train.Checkpoint(optimizer=trainer.optimizer,
                                   **trainer.model.checkpoint_items)
  resumed_from = _restore(trainer, checkpoint, params)
  logging.info("%s: %d train examples (%s), %d steps of %d, %s replicas",
               meta["task"], train_info["examples"], train_lang,
               num_train_steps, params.train_batch_size,
               strategy.num_replicas_in_sync)
  results: dict[str, Any] = {"task": meta["task"], "parameters": counts,
                             "num_train_steps": num_train_steps}
  if params.do_train:
    results["train"] = _train(
        trainer, checkpoint, params,
        os.path.join(params.data_dir, train_info["file"]), num_train_steps,
        resumed_from)
  results["step"] = int(trainer.optimizer.iterations.numpy())
  if params.do_eval:
    results["eval"] = _evaluate(trainer, params, meta)
  if params.do_export:
    results["saved_model"] = export.export_classifier(
        trainer.model,
        os.path.join(params.data_dir, meta["sentencepiece"]["model_file"]),
        params.max_seq_length, meta["sentencepiece"]["special_ids"],
        meta["labels"], os.path.join(params.model_dir, EXPORT_DIR))
  run_files.write_json(os.path.join(params.model_dir, "config.json"),
                         config.to_dict())
  run_files.write_json(os.path.join(params.model_dir, RESULTS_FILE), results)
  return results
