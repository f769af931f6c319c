"""Sentence-pair classification data: the task's TSV files, read and checked.

Layouts (XTREME, as tf-models-official's XtremeXnliProcessor and
XtremePawsxProcessor read them): `<data_dir>/train-en.tsv`,
`dev-<lang>.tsv`, `test-<lang>.tsv`, one `text_a<TAB>text_b<TAB>label` row per
example, no header; a row with more fields (a stray tab shifts the label) is
an error. Task "tsv" uses the same file names but each file starts
with a header naming the `text_a`, `text_b` and `label` columns (any order,
other columns ignored) and the label set comes from the caller.

Text is kept exactly as read (no normalisation of our own); `features` turns it
into model inputs.
"""

import dataclasses
import io
import os
from typing import Optional, Sequence

from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.errors import read_utf8

EVAL_SPLITS = ("dev", "test")

TASK_LABELS = {"xnli": ("contradiction", "entailment", "neutral"),
               "pawsx": ("0", "1")}
TASK_LANGUAGES = {
    "xnli": ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th",
             "tr", "ur", "vi", "zh"),
    "pawsx": ("de", "en", "es", "fr", "ja", "ko", "zh")}
TASKS = ("xnli", "pawsx", "tsv")
_LABEL_ALIASES = {"xnli": {"contradictory": "contradiction"}}
_TSV_COLUMNS = ("text_a", "text_b", "label")


@dataclasses.dataclass(frozen=True)
class Example:
  """One labelled sentence pair, text as read from the file."""
  text_a: str
  text_b: str
  label: str


def task_labels(task: str, labels: Optional[Sequence[str]] = None
                ) -> tuple[str, ...]:
  """The label set: fixed for xnli and pawsx, given for tsv."""
  if task not in TASKS:
    raise TaskError(f"--task={task!r} is unknown; use one of {', '.join(TASKS)}")
  if task == "tsv":
    if not labels or len(set(labels)) != len(labels) or len(labels) < 2:
      raise TaskError("--task=tsv needs --labels: two or more distinct labels")
    return tuple(labels)
  if labels and tuple(labels) != TASK_LABELS[task]:
    raise TaskError(f"--labels: task {task} has the fixed labels "
                    f"{','.join(TASK_LABELS[task])}")
  return TASK_LABELS[task]


def split_file(data_dir: str, split: str, lang: str) -> str:
  """The XTREME file name of one split and language."""
  return os.path.join(data_dir, f"{split}-{lang}.tsv")


def read_examples(task: str, path: str,
                  labels: Sequence[str]) -> list[Example]:
  """Reads one TSV file; a bad row or label names the file and line."""
  if not os.path.isfile(path):
    raise TaskError(f"{path}: file not found (expected the XTREME layout "
                    "train-en.tsv, dev-<lang>.tsv, test-<lang>.tsv; drop the "
                    "language from --languages if it has no file)")
  rows = [line.rstrip("\r\n").split("\t")
          for line in io.StringIO(read_utf8(path), newline="")]
  columns, first = (0, 1, 2), 0
  if task == "tsv":
    header = rows[0] if rows else []
    missing = [c for c in _TSV_COLUMNS if c not in header]
    if missing:
      raise TaskError(f"{path}:1: the header lacks the column(s) {missing}; a "
                      "generic TSV starts with a text_a, text_b, label header")
    columns, first = tuple(header.index(c) for c in _TSV_COLUMNS), 1
  aliases = _LABEL_ALIASES.get(task, {})
  examples = []
  for number, row in enumerate(rows[first:], start=first + 1):
    if row == [""]:
      continue
    if len(row) <= max(columns):
      raise TaskError(f"{path}:{number}: expected text_a, text_b and label "
                      f"separated by tabs, found {len(row)} field(s)")
    if task != "tsv" and len(row) > len(columns):
      raise TaskError(f"{path}:{number}: expected 3 tab-separated fields "
                      f"(text_a, text_b, label), found {len(row)}; remove the "
                      "extra column or the tab inside a text (or use --task="
                      "tsv, whose header picks the columns)")
    text_a, text_b, label = (row[c] for c in columns)
    label = aliases.get(label, label)
    if label not in labels:
      raise TaskError(f"{path}:{number}: label {label!r} is not in the task's "
                      f"label set {list(labels)}")
    examples.append(Example(text_a, text_b, label))
  if not examples:
    raise TaskError(f"{path}: no examples")
  return examples


