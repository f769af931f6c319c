"""Sentence pairs -> packed model inputs, TFRecords and metadata.

Text goes to SentencePiece exactly as read: no accent stripping (unlike tfm's
`preprocess_text`). Pairs are packed as `[CLS] a [SEP] b [SEP]` by
`preprocessing.pack_segments`, the packer (and round-robin truncation) of the
exported SavedModel, so offline and in-graph ids are identical.

Everything is read and checked before anything is written, and the output
directory appears only when complete (with `metadata.json`, which training
checks before its first step).
"""

import dataclasses
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from rembert_tf import file_io
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data import tfrecord_writer
from rembert_tf.export import preprocessing
from rembert_tf.tasks import prepared
from rembert_tf.tasks.classification import data

FORMAT = "rembert_tf.classification_tfrecords"
FORMAT_VERSION = 1
SCRIPT = "create_classifier_data.py"


@dataclasses.dataclass(frozen=True)
class PackedExamples:
  """int32 [n, seq] arrays of the packed pairs, int32 [n] label ids."""
  input_word_ids: np.ndarray
  input_mask: np.ndarray
  input_type_ids: np.ndarray
  label_ids: np.ndarray
  num_truncated: int


def pack_examples(examples: Sequence[data.Example], labels: Sequence[str],
                  vocab: sentencepiece_vocab.Vocab,
                  max_seq_length: int) -> PackedExamples:
  """Tokenizes and packs `[CLS] a [SEP] b [SEP]`, padded to max_seq_length."""
  encode = vocab.processor.encode
  segments = [encode([e.text_a for e in examples]),
              encode([e.text_b for e in examples])]
  packed = {name: t.numpy() for name, t in preprocessing.pack_segments(
      [preprocessing.to_ragged(s) for s in segments], max_seq_length,
      vocab.special.cls, vocab.special.sep, vocab.special.pad).items()}
  # A pair is truncated when fewer tokens were kept than it has.
  lengths = [len(a) + len(b) + 3 for a, b in zip(*segments)]
  truncated = int(np.sum(packed["input_mask"].sum(axis=1) < lengths))
  index = {label: i for i, label in enumerate(labels)}
  label_ids = np.array([index[e.label] for e in examples], np.int32)
  return PackedExamples(packed["input_word_ids"], packed["input_mask"],
                        packed["input_type_ids"], label_ids, truncated)


def feature_spec(max_seq_length: int) -> dict[str, dict[str, Any]]:
  """Names, dtypes and shapes of every example's features (for metadata)."""
  s = [max_seq_length]
  return {"input_word_ids": {"dtype": "int64", "shape": s},
          "input_mask": {"dtype": "int64", "shape": s},
          "input_type_ids": {"dtype": "int64", "shape": s},
          "label_id": {"dtype": "int64", "shape": [1]}}


def _write_tfrecord(path: str, packed: PackedExamples) -> None:
  tfrecord_writer.write_examples(path, {
      "input_word_ids": packed.input_word_ids,
      "input_mask": packed.input_mask,
      "input_type_ids": packed.input_type_ids,
      "label_id": packed.label_ids[:, None]})


def create_classifier_data(task: str, data_dir: str, sp_model_file: str,
                           output_dir: str, *, max_seq_length: int = 128,
                           languages: Optional[Sequence[str]] = None,
                           labels: Optional[Sequence[str]] = None,
                           eval_splits: Sequence[str] = data.EVAL_SPLITS,
                           train_language: str = "en",
                           overwrite: bool = False) -> dict[str, Any]:
  """Writes `<split>-<lang>.tfrecord` files and `metadata.json`; returns it."""
  labels = data.task_labels(task, labels)
  plan = prepared.plan_files(
      task, data.TASK_LANGUAGES, languages=languages, eval_splits=eval_splits,
      known_splits=data.EVAL_SPLITS, train_language=train_language,
      max_seq_length=max_seq_length, min_seq_length=4)
  vocab = prepared.load_vocab(sp_model_file)
  examples = {key: data.read_examples(task, data.split_file(data_dir, *key),
                                       labels)
              for key in plan}
  files: dict[str, dict[str, Any]] = {}
  prepared.check_output_dir(output_dir, overwrite)
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    for (split, lang), split_examples in examples.items():
      packed = pack_examples(split_examples, labels, vocab, max_seq_length)
      name = f"{split}-{lang}.tfrecord"
      _write_tfrecord(os.path.join(tmp, name), packed)
      files.setdefault(split, {})[lang] = {
          "file": name, "examples": len(split_examples),
          "truncated": packed.num_truncated}
    meta = prepared.write_metadata(
        tmp, fmt=FORMAT, version=FORMAT_VERSION, script=SCRIPT, vocab=vocab,
        values={"task": task, "labels": list(labels),
                "max_seq_length": max_seq_length,
                "source_dir": os.path.abspath(data_dir),
                "features": feature_spec(max_seq_length), "files": files})
  return meta


def read_metadata(data_dir: str) -> dict[str, Any]:
  """Reads and format-checks `<data_dir>/metadata.json` (local or remote)."""
  return prepared.read_metadata(data_dir, FORMAT, FORMAT_VERSION, SCRIPT)


def summarize(meta: Mapping[str, Any], output_dir: str) -> str:
  """One line a person reads: what was written, and which pairs were cut."""
  parts = []
  for split, languages in meta["files"].items():
    counts = sorted({info["examples"] for info in languages.values()})
    each = (f"{counts[0]} pairs each" if len(counts) == 1 else
            f"{counts[0]}-{counts[-1]} pairs")
    parts.append(f"{split} {','.join(languages)} ({each})")
  truncated = {f"{split}-{lang}": info["truncated"]
               for split, languages in meta["files"].items()
               for lang, info in languages.items() if info["truncated"]}
  cut = (", ".join(f"{name} {n}" for name, n in truncated.items())
         if truncated else "none")
  return (f"{output_dir}: {meta['task']} {'; '.join(parts)}; pairs truncated "
          f"to --max_seq_length={meta['max_seq_length']}: {cut}")
