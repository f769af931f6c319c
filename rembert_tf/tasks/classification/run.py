"""Fine-tuning on English, then zero-shot evaluation on every language.

One function from settings to checkpoints, accuracy table, predictions and a
SavedModel: the run of every task on prepared data (`tasks.prepared.run`, on
the shared fine-tuning harness) with the classifier's head, evaluation and
export. Everything is checked before the first step (data metadata against
config and flags, every evaluation file, the batch split, the checkpoint's
shapes), and a run started again with the same command resumes from the
latest checkpoint in `model_dir` (model, optimizer, step and, on one worker,
input position); `init_checkpoint` is only used by a fresh run. In a
multi-worker cluster only the chief writes results, predictions and the
SavedModel.
"""

import dataclasses
import os
from typing import Any

from absl import logging

from rembert_tf.tasks import prepared
from rembert_tf.tasks.classification import export as classifier_export
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import inputs as classifier_input
from rembert_tf.tasks.classification import metrics as classifier_metrics
from rembert_tf.tasks.classification import model as classifier_model
from rembert_tf.tasks.classification import postprocess as predictions
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training.trainer import Trainer

RESULTS_FILE = prepared.RESULTS_FILE
PREDICTIONS_DIR = prepared.PREDICTIONS_DIR
EXPORT_DIR = prepared.EXPORT_DIR
SCRIPT = classifier_features.SCRIPT


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClassifierParams(prepared.PreparedDataParams):
  """What `run_classifier.py`'s flags set (same names)."""


def _evaluate(trainer: Trainer, params: ClassifierParams,
              meta: dict[str, Any]) -> dict[str, Any]:
  """Accuracy per language and split, prediction TSVs, the log table."""
  labels = meta["labels"]
  results = {}
  for split in params.eval_splits:
    per_language = {}
    for lang, info in meta["files"][split].items():
      path = os.path.join(params.data_dir, info["file"])
      with prepared.reading(path, SCRIPT):
        per_language[lang] = classifier_metrics.evaluate_file(
            trainer.model, trainer.strategy, path, params.max_seq_length,
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
    truncated = {lang: info["truncated"]
                 for lang, info in meta["files"][split].items()}
    logging.info("zero-shot %s accuracy (%s, trained on English):\n%s", split,
                 meta["task"], classifier_metrics.accuracy_table(
                     split, accuracies, examples, truncated))
    results[split] = {"accuracy": accuracies, "examples": examples,
                      "truncated": truncated,
                      "average": sum(accuracies.values()) / len(accuracies)}
  return results


def run_classifier(params: ClassifierParams) -> dict[str, Any]:
  """Trains (or resumes), evaluates every language, exports; returns results.

  The results are also written to `model_dir/eval_results.json`.
  """
  return prepared.run(_TASK, params)


_TASK = prepared.Task(
    script=SCRIPT, fmt=classifier_features.FORMAT,
    version=classifier_features.FORMAT_VERSION, train_count="examples",
    build_model=classifier_model.build_classifier,
    loss_fn=classifier_model.classifier_loss,
    parse_fn=classifier_input.parse_fn,
    head_params=classifier_model.head_params, pooler=True,
    accuracy_name="train_accuracy", evaluate=_evaluate,
    export=classifier_export.export_classifier)
