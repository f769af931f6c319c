"""NER / POS: fine-tune on English, then tag every language zero-shot.

One function from settings to checkpoints, an F1 table, per-word predictions
and SavedModels: the classifier's run (`tasks.prepared.run`, on the shared
fine-tuning harness) with the token head, evaluation and export. Everything
is checked before the first step (data metadata against config and flags,
every file), a run started again with the same command resumes from the
latest checkpoint in `model_dir`, and in a multi-worker cluster only the
chief writes results, predictions and the SavedModels. Training counts an
epoch as one pass over the training windows (a cut sentence's windows each
count), as for QA's doc-stride windows.
Prediction is exact (`evaluation.ExactPredictor`), then `postprocess` gives
every word of every sentence its one tag and `metrics` scores the language.
"""

import dataclasses
import os
from typing import Any

from absl import logging
import tensorflow as tf

from rembert_tf.tasks import evaluation
from rembert_tf.tasks import prepared
from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.tagging import export as tagging_export
from rembert_tf.tasks.tagging import features as tagging_features
from rembert_tf.tasks.tagging import inputs as tagging_input
from rembert_tf.tasks.tagging import metrics as tagging_metrics
from rembert_tf.tasks.tagging import model as tagging_model
from rembert_tf.tasks.tagging import postprocess
from rembert_tf.training.trainer import Trainer

RESULTS_FILE = prepared.RESULTS_FILE
PREDICTIONS_DIR = prepared.PREDICTIONS_DIR
EXPORT_DIR = prepared.EXPORT_DIR
SCRIPT = tagging_features.SCRIPT


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaggingParams(prepared.PreparedDataParams):
  """What `run_tagging.py`'s flags set (run_classifier.py's names)."""


def _predictor(trainer: Trainer,
               jit_compile: bool) -> evaluation.ExactPredictor:
  """Each window's predicted label per position, traced once for all files."""
  model = trainer.model

  def predict(batch):
    logits = model(batch, training=False)["logits"]
    return {"predictions": tf.argmax(logits, axis=-1, output_type=tf.int32),
            "label_weights": batch["label_weights"],
            tagging_features.SENTENCE_INDEX:
                batch[tagging_features.SENTENCE_INDEX]}
  return evaluation.ExactPredictor(trainer.strategy, predict, jit_compile)


def _evaluate_file(predictor: evaluation.ExactPredictor,
                   params: TaggingParams, meta: dict[str, Any],
                   info: dict[str, Any]
                   ) -> tuple[list[list[str]], list[list[str]],
                              list[list[str]]]:
  """One file's words, gold labels and predicted labels, per sentence."""
  path = os.path.join(params.data_dir, info["file"])
  with prepared.reading(path, SCRIPT):
    num_read = evaluation.count_records(path)
    if num_read != info["windows"]:
      raise TaskError(f"{path}: read {num_read} windows, metadata says "
                      f"{info['windows']}; re-run {SCRIPT}")
    outputs = predictor(tagging_input.padded_dataset(
        path, params.max_seq_length, params.eval_batch_size, num_read),
                        num_read, path)
  words, gold = tagging_features.read_words_file(params.data_dir, info)
  predicted = postprocess.word_predictions(outputs, [len(w) for w in words],
                                           path)
  labels = meta["labels"]
  return words, gold, [[labels[i] for i in s] for s in predicted]


def _evaluate(trainer: Trainer, params: TaggingParams,
              meta: dict[str, Any]) -> dict[str, Any]:
  """F1 per language and split, prediction files, the log table."""
  predictor = _predictor(trainer, params.jit_compile)
  results = {}
  for split in params.eval_splits:
    scores, files = {}, meta["files"][split]
    for lang, info in files.items():
      words, gold, predicted = _evaluate_file(predictor, params, meta, info)
      scores[lang] = tagging_metrics.score(meta["metric"], gold, predicted)
      if trainer.is_chief:
        postprocess.write_predictions(
            os.path.join(params.model_dir, PREDICTIONS_DIR,
                         f"{split}-{lang}.tsv"), words, gold, predicted)
    result = {name: {lang: s[name] for lang, s in scores.items()}
              for name in ("f1", "precision", "recall")}
    result.update({name: {lang: info[name] for lang, info in files.items()}
                   for name in ("sentences", "words", "split_sentences",
                                "skipped")})
    result["metric"] = meta["metric"]
    result["average"] = sum(result["f1"].values()) / len(result["f1"])
    logging.info("zero-shot %s %s (%s, trained on English):\n%s", split,
                 meta["metric"], meta["task"],
                 tagging_metrics.results_table(split, result))
    results[split] = result
  return results


def run_tagging(params: TaggingParams) -> dict[str, Any]:
  """Trains (or resumes), tags every language, exports; returns the results.

  The results are also written to `model_dir/eval_results.json`.
  """
  return prepared.run(_TASK, params)


_TASK = prepared.Task(
    script=SCRIPT, fmt=tagging_features.FORMAT,
    version=tagging_features.FORMAT_VERSION, train_count="windows",
    build_model=tagging_model.build_token_classifier,
    loss_fn=tagging_model.tagging_loss, parse_fn=tagging_input.parse_fn,
    head_params=tagging_model.head_params, pooler=False,
    accuracy_name="train_token_accuracy", evaluate=_evaluate,
    export=tagging_export.export_tagger)
