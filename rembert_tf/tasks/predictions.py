"""Per-language prediction files, and the atomic text writes of a run's outputs.

Paths may be local or remote (gs://): writes go through tf.io.gfile.
"""

import json
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf


def write_text_atomic(path: str, text: str) -> None:
  """Writes under a temporary name, then renames: no partial file on a crash."""
  directory = path.rsplit("/", 1)[0] if "/" in path else "."
  tf.io.gfile.makedirs(directory)
  temp = path + ".incomplete"
  with tf.io.gfile.GFile(temp, "w") as f:
    f.write(text)
  tf.io.gfile.rename(temp, path, overwrite=True)


def write_json(path: str, values: Mapping[str, Any]) -> None:
  """Sorted, indented JSON, written atomically."""
  write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


def write_predictions(path: str, labels: Sequence[str],
                      probabilities: np.ndarray, label_ids: np.ndarray) -> None:
  """One row per example, in file order: index, gold and predicted label, and
  each class probability."""
  header = ["index", "label", "prediction"] + [f"p_{l}" for l in labels]
  rows = ["\t".join(header)]
  for i, (p, gold) in enumerate(zip(probabilities, label_ids)):
    rows.append("\t".join([str(i), labels[gold], labels[int(np.argmax(p))]] +
                          [f"{x:.6f}" for x in p]))
  write_text_atomic(path, "\n".join(rows) + "\n")
