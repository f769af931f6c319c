"""Fine-tuning on English, then zero-shot evaluation on every language.

One function from settings to checkpoints, accuracy table, predictions and a
SavedModel, on the shared fine-tuning harness (`tasks.finetuning`). Everything
is checked before the first step (data metadata against config and flags, every
evaluation file, the batch split, the checkpoint's shapes), and a run started
again with the same command resumes from the latest checkpoint in `model_dir`
(model, optimizer, step and, on one worker, input position); `init_checkpoint`
is only used by a fresh run. In a multi-worker cluster only the chief writes
results, predictions and the SavedModel.
"""

import dataclasses
import os
from typing import Any, Sequence

from absl import logging
import tensorflow as tf

from rembert_tf.tasks.classification import data as classification_data
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import inputs as classifier_input
from rembert_tf.tasks.classification import metrics as classifier_metrics
from rembert_tf.tasks.classification import model as classifier_model
from rembert_tf.tasks.classification import export as classifier_export
from rembert_tf.tasks import harness
from rembert_tf.tasks.classification import postprocess as predictions
from rembert_tf.tasks import inputs as task_input
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training.params import FinetuningParams
from rembert_tf.training.trainer import Trainer

RESULTS_FILE = "eval_results.json"
PREDICTIONS_DIR = "predictions"
EXPORT_DIR = "saved_model"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClassifierParams(FinetuningParams):
  """What `run_classifier.py`'s flags set (same names)."""
  data_dir: str
  eval_splits: Sequence[str] = ("dev",)


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


def _evaluate(trainer: Trainer, params: ClassifierParams,
              meta: dict[str, Any]) -> dict[str, Any]:
  """Accuracy per language and split, prediction TSVs, the log table."""
  labels = meta["labels"]
  results = {}
  for split in params.eval_splits:
    per_language = {}
    for lang, info in meta["files"][split].items():
      per_language[lang] = classifier_metrics.evaluate_file(
          trainer.model, trainer.strategy,
          os.path.join(params.data_dir, info["file"]), params.max_seq_length,
          params.eval_batch_size, params.jit_compile)
      if per_language[lang].num_examples != info["examples"]:
        raise TaskError(f"{info['file']}: read {per_language[lang].num_examples}"
                        f" examples, metadata says {info['examples']}")
      if trainer.is_chief:
        predictions.write_predictions(
            os.path.join(params.model_dir, PREDICTIONS_DIR,
                         f"{split}-{lang}.tsv"),
            labels, per_language[lang].probabilities,
            per_language[lang].label_ids)
    accuracies = {lang: r.accuracy for lang, r in per_language.items()}
    examples = {lang: r.num_examples for lang, r in per_language.items()}
    logging.info("zero-shot %s accuracy (%s, trained on English):\n%s", split,
                 meta["task"],
                 classifier_metrics.accuracy_table(split, accuracies, examples))
    results[split] = {"accuracy": accuracies, "examples": examples,
                      "average": sum(accuracies.values()) / len(accuracies)}
  return results


def run_classifier(params: ClassifierParams) -> dict[str, Any]:
  """Trains (or resumes), evaluates every language, exports; returns results.

  The results are also written to `model_dir/eval_results.json`.
  """
  pretraining_config, config = harness.load_configs(params)
  meta = classifier_features.read_metadata(params.data_dir)
  classifier_features.validate(
      meta, params.data_dir, max_seq_length=params.max_seq_length,
      vocab_size=pretraining_config.vocab_size,
      special_ids={"cls": pretraining_config.bos_token_id,
                   "sep": pretraining_config.eos_token_id,
                   "pad": pretraining_config.pad_token_id})
  _check_files(meta, params)
  num_labels = len(meta["labels"])
  (train_lang, train_info), = meta["files"][
      classification_data.TRAIN_SPLIT].items()
  num_train_steps = harness.num_train_steps(params, train_info["examples"])
  trainer = harness.build_trainer(
      params,
      lambda: classifier_model.build_classifier(config, num_labels,
                                                params.max_seq_length),
      classifier_model.classifier_loss, num_train_steps,
      accuracy_name="train_accuracy")
  counts = harness.log_parameter_counts(
      pretraining_config, config,
      classifier_model.head_params(config, num_labels), pooler=True)
  harness.initialize(trainer, params)
  logging.info("%s: %d train examples (%s), %d steps of %d, %s replicas",
               meta["task"], train_info["examples"], train_lang,
               num_train_steps, params.train_batch_size,
               trainer.strategy.num_replicas_in_sync)
  results: dict[str, Any] = {"task": meta["task"], "parameters": counts,
                             "num_train_steps": num_train_steps}
  if params.do_train:
    results["train"] = trainer.train(task_input.train_dataset_fn(
        os.path.join(params.data_dir, train_info["file"]),
        classifier_input.parse_fn(params.max_seq_length),
        params.train_batch_size, params.seed))
    results.update(trainer.traces())
  results["step"] = trainer.global_step
  if params.do_eval:
    results["eval"] = _evaluate(trainer, params, meta)
  if params.do_export and trainer.is_chief:
    results["saved_model"] = classifier_export.export_classifier(
        trainer.model,
        os.path.join(params.data_dir, meta["sentencepiece"]["model_file"]),
        params.max_seq_length, meta["sentencepiece"]["special_ids"],
        meta["labels"], os.path.join(params.model_dir, EXPORT_DIR))
  harness.finish(trainer, config, os.path.join(params.model_dir,
                                                 RESULTS_FILE), results)
  return results
