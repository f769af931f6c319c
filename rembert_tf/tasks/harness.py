"""What every fine-tuning task shares: config, layer dropping, trainer, restore.

A task (classification, tagging, question answering) brings its data, model
head, loss and evaluation; this module turns the pre-training config into the
fine-tuning one (`RemBertConfig.for_finetuning`: `--num_layers_to_keep`, else
the config's `num_finetuning_layers`, paper section 6.2), logs the paper's two
parameter counts, builds the shared `Trainer` on the epoch-based schedule, and
starts it from the latest checkpoint in `model_dir` or else from the
pre-trained encoder.
"""

import math
import os
from typing import Any, Callable, Optional

from absl import logging
import tf_keras

from rembert_tf import file_io
from rembert_tf.configs import load_config
from rembert_tf.modeling import checkpoints
from rembert_tf.modeling import param_count
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training import distribution
from rembert_tf.training.params import FinetuningParams
from rembert_tf.training.params import check_finetuning_params
from rembert_tf.training.train_step import LossFn
from rembert_tf.training.trainer import Trainer


def load_configs(params: FinetuningParams) -> tuple[RemBertConfig,
                                                    RemBertConfig]:
  """The pre-training config and the fine-tuning one (its bottom k layers)."""
  check_finetuning_params(params)
  pretraining = load_config(params.config_file)
  if params.max_seq_length > pretraining.max_position_embeddings:
    raise TaskError(f"--max_seq_length={params.max_seq_length} exceeds the "
                    "config's max_position_embeddings "
                    f"({pretraining.max_position_embeddings})")
  k = params.num_layers_to_keep
  if k is not None and not 1 <= k <= pretraining.num_hidden_layers:
    raise TaskError(f"--num_layers_to_keep={k} must be in "
                    f"[1, {pretraining.num_hidden_layers}] (the config's "
                    "layers)")
  finetuning = pretraining.for_finetuning(k)
  if k is not None:
    source = "--num_layers_to_keep"
  elif pretraining.num_finetuning_layers is not None:
    source = ("the config's num_finetuning_layers (pass --num_layers_to_keep "
              "to override)")
  else:
    source = "all of the config's layers"
  logging.info("fine-tuning %d of %d pre-trained layers: %s",
               finetuning.num_hidden_layers, pretraining.num_hidden_layers,
               source)
  return pretraining, finetuning


def log_parameter_counts(pretraining: RemBertConfig, finetuning: RemBertConfig,
                         head_params: int, pooler: bool) -> dict[str, int]:
  """Logs and returns the paper's two counts (appendix A.1) and the heads."""
  counts = {
      "pretraining_params": param_count.pretraining_params(pretraining),
      "finetuning_params": param_count.finetuning_params(finetuning),
      "pooler_params": param_count.pooler_params(finetuning) if pooler else 0,
      "head_params": head_params,
      "layers": finetuning.num_hidden_layers,
  }
  logging.info(
      "parameters: pre-training %s, fine-tuning %s (%d of %d layers; the "
      "output embedding and MLM head are discarded), plus pooler %s and "
      "task head %s", f"{counts['pretraining_params']:,}",
      f"{counts['finetuning_params']:,}", finetuning.num_hidden_layers,
      pretraining.num_hidden_layers, f"{counts['pooler_params']:,}",
      f"{head_params:,}")
  return counts


def num_train_steps(params: FinetuningParams, num_examples: int) -> int:
  """Steps for `num_train_epochs` passes over `num_examples` (at least 1)."""
  return max(1, math.ceil(params.num_train_epochs * num_examples /
                          params.train_batch_size))


def build_trainer(params: FinetuningParams,
                  build_model: Callable[[], tf_keras.Model], loss_fn: LossFn,
                  train_steps: int, accuracy_name: str) -> Trainer:
  """The shared trainer with `warmup_proportion` of the steps warming up."""
  trainer = Trainer(params, build_model, loss_fn, train_steps,
                    int(params.warmup_proportion * train_steps),
                    accuracy_name=accuracy_name)
  distribution.per_replica_batch_size(params.eval_batch_size, trainer.strategy,
                                      flag="eval_batch_size")
  return trainer


def initialize(trainer: Trainer, params: FinetuningParams) -> Optional[str]:
  """Resumes from model_dir, else loads init_checkpoint's encoder.

  Returns the checkpoint resumed from, if any.

  Raises:
    TaskError: there is nothing to evaluate (no training, no checkpoint).
    checkpoints.CheckpointMismatchError: a checkpoint of another config.
  """
  latest = trainer.resume()
  if latest:
    logging.info("resuming from %s (step %d)", latest, trainer.global_step)
  elif params.init_checkpoint:
    report = checkpoints.restore_encoder(trainer.model.encoder,
                                         params.init_checkpoint)
    logging.info(
        "encoder from %s: %d variables, %d of its %d layers%s; %d checkpoint "
        "variables left unused (output embedding, MLM head, dropped layers, "
        "optimizer state)", report.checkpoint, report.restored_variables,
        report.layers_restored, report.layers_in_checkpoint,
        ", fresh pooler" if report.fresh_pooler else "",
        report.left_in_checkpoint)
    logging.info("fine-tuning from --init_checkpoint, fresh head and "
                 "optimizer")
  elif params.do_train:
    logging.warning("training from scratch: no --init_checkpoint, so this is "
                    "not fine-tuning")
  else:
    raise TaskError(f"nothing to evaluate: no checkpoint in {params.model_dir}")
  return latest


def finish(trainer: Trainer, config: RemBertConfig, results_file: str,
           results: dict[str, Any]) -> None:
  """The chief writes the fine-tuned model's config beside its checkpoints
  and the results; every worker then drops its private checkpoints."""
  if trainer.is_chief:
    file_io.write_json(
        os.path.join(trainer.params.model_dir, "config.json"),
        config.to_dict())
    file_io.write_json(results_file, results)
  trainer.close()
