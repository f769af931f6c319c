"""Sentence pairs -> packed model inputs, TFRecords and metadata.

Text goes to SentencePiece exactly as read: no accent stripping (unlike tfm's
`preprocess_text`). Pairs are packed as `[CLS] a [SEP] b [SEP]`, truncated
longest-first (ties shorten b), which keeps the same tokens as
tensorflow_text's RoundRobinTrimmer used by the exported SavedModel, so offline
and in-graph ids are identical.

Everything is read and checked before anything is written, and the output
directory appears only when complete (with `metadata.json`, which training
checks before its first step).
"""

import dataclasses
import os
import shutil
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from rembert_tf import file_io
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data import tfrecord_writer
from rembert_tf.data.errors import DataPrepError
from rembert_tf.tasks.classification import data
from rembert_tf.tasks.errors import TaskError

FORMAT = "rembert_tf.classification_tfrecords"
FORMAT_VERSION = 1
SP_MODEL_FILE = "sentencepiece.model"


@dataclasses.dataclass(frozen=True)
class PackedExamples:
  """int32 [n, seq] arrays of the packed pairs, int32 [n] label ids."""
  input_word_ids: np.ndarray
  input_mask: np.ndarray
  input_type_ids: np.ndarray
  label_ids: np.ndarray
  num_truncated: int


def truncate_pair(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
  """Lengths kept by longest-first truncation (ties shorten b)."""
  while len_a + len_b > budget:
    if len_a > len_b:
      len_a -= 1
    else:
      len_b -= 1
  return len_a, len_b


def pack_examples(examples: Sequence[data.Example], labels: Sequence[str],
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
  with file_io.AtomicFile(path) as f:
    f.write(tfrecord_writer.frame_records(records))


def create_classifier_data(task: str, data_dir: str, sp_model_file: str,
                           output_dir: str, *, max_seq_length: int = 128,
                           languages: Optional[Sequence[str]] = None,
                           labels: Optional[Sequence[str]] = None,
                           eval_splits: Sequence[str] = data.EVAL_SPLITS,
                           train_language: str = "en",
                           overwrite: bool = False) -> dict[str, Any]:
  """Writes `<split>-<lang>.tfrecord` files and `metadata.json`; returns it."""
  labels = data.task_labels(task, labels)
  if languages is None:
    if task == "tsv":
      raise TaskError("--task=tsv needs --languages")
    languages = data.TASK_LANGUAGES[task]
  unknown = [s for s in eval_splits if s not in data.EVAL_SPLITS]
  if unknown or max_seq_length < 4:
    raise TaskError(f"--eval_splits must be among {data.EVAL_SPLITS} (got "
                    f"{list(eval_splits)}) and --max_seq_length at least 4 "
                    f"(got {max_seq_length})")
  try:
    vocab = sentencepiece_vocab.load_vocab(sp_model_file)
  except DataPrepError as e:
    raise TaskError(str(e)) from None
  plan = [(data.TRAIN_SPLIT, train_language)] + [
      (split, lang) for split in eval_splits for lang in languages]
  examples = {key: data.read_examples(task, data.split_file(data_dir, *key),
                                       labels)
              for key in plan}
  files: dict[str, dict[str, Any]] = {}
  if os.path.exists(output_dir) and not overwrite:
    raise TaskError(f"--output_dir={output_dir} already exists; pass "
                    "--overwrite to replace it")
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    for (split, lang), split_examples in examples.items():
      packed = pack_examples(split_examples, labels, vocab, max_seq_length)
      name = f"{split}-{lang}.tfrecord"
      _write_tfrecord(os.path.join(tmp, name), packed)
      files.setdefault(split, {})[lang] = {
          "file": name, "examples": len(split_examples),
          "truncated": packed.num_truncated}
    shutil.copyfile(sp_model_file, os.path.join(tmp, SP_MODEL_FILE))
    meta = {**file_io.metadata_header(FORMAT, FORMAT_VERSION,
                                      "create_classifier_data.py"),
            "task": task,
            "labels": list(labels), "max_seq_length": max_seq_length,
            "source_dir": os.path.abspath(data_dir),
            "sentencepiece": {"model_file": SP_MODEL_FILE,
                              "source": os.path.abspath(sp_model_file),
                              "sha256": vocab.sha256,
                              "vocab_size": vocab.vocab_size,
                              "special_ids": vocab.special.as_dict()},
            "features": feature_spec(max_seq_length), "files": files}
    file_io.write_json(os.path.join(tmp, file_io.METADATA_FILE), meta)
  return meta


def read_metadata(data_dir: str) -> dict[str, Any]:
  """Reads and format-checks `<data_dir>/metadata.json` (local or remote)."""
  return file_io.read_metadata(
      data_dir, FORMAT, FORMAT_VERSION,
      written_by="an --output_dir of create_classifier_data.py (--data_dir)")


def validate(meta: Mapping[str, Any], data_dir: str, *, max_seq_length: int,
             vocab_size: int, special_ids: Mapping[str, int]) -> None:
  """Fails when the data was prepared for another sequence length or vocab."""
  sp = meta["sentencepiece"]
  file_io.check_matches(
      data_dir,
      [("max_seq_length", meta["max_seq_length"], max_seq_length),
       ("vocab_size", sp["vocab_size"], vocab_size)] +
      [(f"{name} id", sp["special_ids"][name], value)
       for name, value in special_ids.items()],
      "Re-run create_classifier_data.py with matching settings.")
