"""Classification scores: accuracy per language, exactly over every example."""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf
import tf_keras

from rembert_tf.tasks import evaluation
from rembert_tf.tasks.classification import inputs as classifier_input


@dataclasses.dataclass(frozen=True)
class LanguageResult:
  """One language's scores; `probabilities` [num_examples, num_labels]."""
  accuracy: float
  num_examples: int
  probabilities: np.ndarray
  label_ids: np.ndarray


def evaluate_file(model: tf_keras.Model, strategy: tf.distribute.Strategy,
                  path: str, seq_length: int, global_batch_size: int,
                  jit_compile: bool = False) -> LanguageResult:
  """Scores every example of one TFRecord file exactly once."""
  num_read = evaluation.count_records(path)

  def predict(features):
    logits = model(features, training=False)["logits"]
    return {"probabilities": tf.nn.softmax(logits, axis=-1),
            "label_id": features["label_id"]}

  outputs = evaluation.predict_exact(
      strategy, predict,
      classifier_input.padded_dataset(path, seq_length, global_batch_size,
                                      num_read), num_read,
      path, jit_compile)
  probabilities, labels = outputs["probabilities"], outputs["label_id"]
  correct = (probabilities.argmax(-1) == labels).sum()
  return LanguageResult(accuracy=float(correct / max(num_read, 1)),
                        num_examples=num_read, probabilities=probabilities,
                        label_ids=labels)


def accuracy_table(split: str, accuracy: dict[str, float],
                   examples: dict[str, int],
                   truncated: Optional[dict[str, int]] = None) -> str:
  """One row per language, then the average over languages.

  Takes plain dicts so that it also formats a saved `eval_results.json`.
  `truncated` (pairs cut to max_seq_length, per language) adds a column, so
  a language whose pairs were shortened is visible next to its score.
  """
  header = f"{'language':>8}  {split + ' accuracy':>14}  {'examples':>8}"
  lines = [header + (f"  {'truncated':>9}" if truncated is not None else "")]
  for lang in accuracy:
    row = f"{lang:>8}  {accuracy[lang]:14.4f}  {examples[lang]:8d}"
    if truncated is not None:
      row += f"  {truncated.get(lang, 0):9d}"
    lines.append(row)
  lines.append(f"{'average':>8}  {float(np.mean(list(accuracy.values()))):14.4f}")
  return "\n".join(lines)
