"""Sentence-pair classification data: TSV files in, TFRecords plus metadata out.

Layouts (XTREME, as tf-models-official's XtremeXnliProcessor and
XtremePawsxProcessor read them): `<data_dir>/train-en.tsv`,
`dev-<lang>.tsv`, `test-<lang>.tsv`, one `text_a<TAB>text_b<TAB>label` row per
example, no header. Task "tsv" uses the same file names but each file starts
with a header naming the `text_a`, `text_b` and `label` columns (any order,
other columns ignored) and the label set comes from the caller.

Text goes to SentencePiece exactly as read: no accent stripping (unlike tfm's
`preprocess_text`) and no normalisation of our own. Pairs are packed as
`[CLS] a [SEP] b [SEP]`, truncated longest-first (ties shorten b), which keeps
the same tokens as tensorflow_text's RoundRobinTrimmer used by the exported
SavedModel, so offline and in-graph ids are identical.

Everything is read and checked before anything is written, and the output
directory appears only when complete (with `metadata.json`, which training
checks before its first step).
"""

import dataclasses
import json
import os
import shutil
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data import tfrecord_writer
from rembert_tf.data.errors import DataPrepError
from rembert_tf.data.metadata import write_json_atomic
from rembert_tf.pretrained import atomic_directory
from rembert_tf.tasks.errors import TaskError

FORMAT = "rembert_tf.classification_tfrecords"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
SP_MODEL_FILE = "sentencepiece.model"
TRAIN_SPLIT = "train"
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


@dataclasses.dataclass(frozen=True)
class PackedExamples:
  """int32 [n, seq] arrays of the packed pairs, int32 [n] label ids."""
  input_word_ids: np.ndarray
  input_mask: np.ndarray
  input_type_ids: np.ndarray
  label_ids: np.ndarray
  num_truncated: int


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
  with open(path, encoding="utf-8", newline="") as f:
    rows = [line.rstrip("\r\n").split("\t") for line in f]
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
    text_a, text_b, label = (row[c] for c in columns)
    label = aliases.get(label, label)
    if label not in labels:
      raise TaskError(f"{path}:{number}: label {label!r} is not in the task's "
                      f"label set {list(labels)}")
    examples.append(Example(text_a, text_b, label))
  if not examples:
    raise TaskError(f"{path}: no examples")
  return examples


def truncate_pair(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
  """Lengths kept by longest-first truncation (ties shorten b)."""
  while len_a + len_b > budget:
    if len_a > len_b:
      len_a -= 1
    else:
      len_b -= 1
  return len_a, len_b


def pack_examples(examples: Sequence[Example], labels: Sequence[str],
                  vocab: sentencepiece_vocab.Vocab,
                  max_seq_length: int) -> PackedExamples:
  """Tokenizes and packs `[CLS] a [SEP] b [SEP]`, padded to max_seq_length."""
  n, s = len(examples), max_seq_length
  word_ids = np.full([n, s], vocab.special.pad, np.int32)
  type_ids = np.zeros([n, s], np.int32)
  mask = np.zeros([n, s], np.int32)
  encode = vocab.processor.encode
  pieces_a = encode([e.text_a for e in examples])
  pieces_b = encode([e.text_b for e in examples])
  truncated = 0
  cls, sep = vocab.special.cls, vocab.special.sep
  for i, (a, b) in enumerate(zip(pieces_a, pieces_b)):
    keep_a, keep_b = truncate_pair(len(a), len(b), s - 3)
    truncated += (keep_a, keep_b) != (len(a), len(b))
    ids = [cls, *a[:keep_a], sep, *b[:keep_b], sep]
    word_ids[i, :len(ids)] = ids
    type_ids[i, keep_a + 2:len(ids)] = 1
    mask[i, :len(ids)] = 1
  index = {label: i for i, label in enumerate(labels)}
  label_ids = np.array([index[e.label] for e in examples], np.int32)
  return PackedExamples(word_ids, mask, type_ids, label_ids, truncated)


def feature_spec(max_seq_length: int) -> dict[str, dict[str, Any]]:
  """Names, dtypes and shapes of every example's features (for metadata)."""
  s = [max_seq_length]
  return {"input_word_ids": {"dtype": "int64", "shape": s},
          "input_mask": {"dtype": "int64", "shape": s},
          "input_type_ids": {"dtype": "int64", "shape": s},
          "label_id": {"dtype": "int64", "shape": [1]}}


def _write_tfrecord(path: str, packed: PackedExamples) -> None:
  records = tfrecord_writer.serialize_examples({
      "input_word_ids": packed.input_word_ids,
      "input_mask": packed.input_mask,
      "input_type_ids": packed.input_type_ids,
      "label_id": packed.label_ids[:, None]})
  with tfrecord_writer.AtomicFile(path) as f:
    f.write(tfrecord_writer.frame_records(records))


def create_classifier_data(task: str, data_dir: str, sp_model_file: str,
                           output_dir: str, *, max_seq_length: int = 128,
                           languages: Optional[Sequence[str]] = None,
                           labels: Optional[Sequence[str]] = None,
                           eval_splits: Sequence[str] = EVAL_SPLITS,
                           train_language: str = "en",
                           overwrite: bool = False) -> dict[str, Any]:
  """Writes `<split>-<lang>.tfrecord` files and `metadata.json`; returns it."""
  labels = task_labels(task, labels)
  if languages is None:
    if task == "tsv":
      raise TaskError("--task=tsv needs --languages")
    languages = TASK_LANGUAGES[task]
  unknown = [s for s in eval_splits if s not in EVAL_SPLITS]
  if unknown or max_seq_length < 4:
    raise TaskError(f"--eval_splits must be among {EVAL_SPLITS} (got "
                    f"{list(eval_splits)}) and --max_seq_length at least 4 "
                    f"(got {max_seq_length})")
  try:
    vocab = sentencepiece_vocab.load_vocab(sp_model_file)
  except DataPrepError as e:
    raise TaskError(str(e)) from None
  plan = [(TRAIN_SPLIT, train_language)] + [
      (split, lang) for split in eval_splits for lang in languages]
  examples = {key: read_examples(task, split_file(data_dir, *key), labels)
              for key in plan}
  files: dict[str, dict[str, Any]] = {}
  if os.path.exists(output_dir) and not overwrite:
    raise TaskError(f"--output_dir={output_dir} already exists; pass "
                    "--overwrite to replace it")
  with atomic_directory(output_dir, overwrite) as tmp:
    for (split, lang), split_examples in examples.items():
      packed = pack_examples(split_examples, labels, vocab, max_seq_length)
      name = f"{split}-{lang}.tfrecord"
      _write_tfrecord(os.path.join(tmp, name), packed)
      files.setdefault(split, {})[lang] = {
          "file": name, "examples": len(split_examples),
          "truncated": packed.num_truncated}
    shutil.copyfile(sp_model_file, os.path.join(tmp, SP_MODEL_FILE))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "created_by": "create_classifier_data.py", "task": task,
            "labels": list(labels), "max_seq_length": max_seq_length,
            "source_dir": os.path.abspath(data_dir),
            "sentencepiece": {"model_file": SP_MODEL_FILE,
                              "source": os.path.abspath(sp_model_file),
                              "sha256": vocab.sha256,
                              "vocab_size": vocab.vocab_size,
                              "special_ids": vocab.special.as_dict()},
            "features": feature_spec(max_seq_length), "files": files}
    write_json_atomic(os.path.join(tmp, METADATA_FILE), meta)
  return meta


def read_metadata(data_dir: str) -> dict[str, Any]:
  """Reads and format-checks `<data_dir>/metadata.json`."""
  path = os.path.join(data_dir, METADATA_FILE)
  try:
    with tf.io.gfile.GFile(path) as f:
      meta = json.load(f)
  except (tf.errors.OpError, json.JSONDecodeError) as e:
    raise TaskError(f"{path}: not readable ({e}); point --data_dir at an "
                    "--output_dir of create_classifier_data.py") from None
  if (meta.get("format"), meta.get("format_version")) != (FORMAT,
                                                          FORMAT_VERSION):
    raise TaskError(f"{path}: not {FORMAT} version {FORMAT_VERSION} metadata")
  return meta


def validate(meta: Mapping[str, Any], data_dir: str, *, max_seq_length: int,
             vocab_size: int, special_ids: Mapping[str, int]) -> None:
  """Fails when the data was prepared for another sequence length or vocab."""
  sp = meta["sentencepiece"]
  checks = [("max_seq_length", meta["max_seq_length"], max_seq_length),
            ("vocab_size", sp["vocab_size"], vocab_size)]
  checks += [(f"{name} id", sp["special_ids"][name], value)
             for name, value in special_ids.items()]
  problems = [f"{name} is {have} in the data but {want} here"
              for name, have, want in checks if have != want]
  if problems:
    raise TaskError(
        f"{os.path.join(data_dir, METADATA_FILE)}: " + "; ".join(problems) +
        ". Re-run create_classifier_data.py with matching settings.")
