"""Atomic writes of a run's outputs (metrics, results, configs, label lists).

Paths may be local or remote (gs://), so writes go through tf.io.gfile: the text
goes under a temporary name and is renamed into place, so a crash never leaves a
partial file.
"""

import json
from typing import Any, Mapping

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
