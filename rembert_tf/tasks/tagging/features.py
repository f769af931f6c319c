"""Tagged sentences -> windows of pieces, TFRecords and metadata.

Each word goes to SentencePiece on its own, exactly as read (no accent
stripping, never tf-models-official's `preprocess_text`); the windows are
`windows.layout_windows`, the function the exported SavedModel calls in its
graph. A word's label sits on its first piece (`label_weights` 1); its other
pieces, [CLS], [SEP] and padding carry weight 0 (label id 0, never scored).
A sentence too long for one window is cut into several, counted per file as
`split_sentences`; a word longer than a window on its own is an error naming
its file and line.

Data prep is a separate step (`create_tagging_data.py`), as for the
classifier and unlike QA: the features depend only on the files, the
SentencePiece model and --max_seq_length, so one prepared directory serves
every fine-tuning run of a sweep (Table 10's rates) and can be read from a
bucket by a TPU job (`tasks.prepared`). Everything is read and checked before
anything is written, and the output directory appears only when complete: per
split and language `<split>-<lang>.tfrecord`, for evaluation
`<split>-<lang>.words.json` (the words and gold labels that predictions are
written beside), a copy of the SentencePiece model and `metadata.json`.
"""

import dataclasses
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data import tfrecord_writer
from rembert_tf.export import preprocessing
from rembert_tf.tasks import prepared
from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.tagging import data
from rembert_tf.tasks.tagging import windows

FORMAT = "rembert_tf.tagging_tfrecords"
FORMAT_VERSION = 1
SCRIPT = "create_tagging_data.py"
# Per-token features of every record, besides the model inputs.
SEQUENCE_FEATURES = ("label_ids", "label_weights")
SENTENCE_INDEX = "sentence_index"


@dataclasses.dataclass(frozen=True)
class Windows:
  """int32 [F, seq] rows of the windows, int32 [F] their sentences."""
  input_word_ids: np.ndarray
  input_mask: np.ndarray
  input_type_ids: np.ndarray
  label_ids: np.ndarray
  label_weights: np.ndarray
  sentence_index: np.ndarray

  @property
  def split_sentences(self) -> int:
    """Sentences cut into more than one window."""
    return int(np.sum(np.bincount(self.sentence_index) > 1))


def word_pieces(sentences: Sequence[data.Sentence],
                vocab: sentencepiece_vocab.Vocab) -> tf.RaggedTensor:
  """int32 [sentences, (words), (pieces)]: each word tokenized on its own."""
  pieces = vocab.processor.encode([w for s in sentences for w in s.words])
  return tf.RaggedTensor.from_row_lengths(
      preprocessing.to_ragged(pieces),
      np.array([len(s.words) for s in sentences], np.int64))


def _check_word_lengths(path: str, sentences: Sequence[data.Sentence],
                        pieces: tf.RaggedTensor, max_seq_length: int) -> None:
  lengths = pieces.values.row_lengths().numpy()
  too_long = np.flatnonzero(lengths > max_seq_length - 2)
  if len(too_long):
    lines = [n for s in sentences for n in s.lines]
    words = [w for s in sentences for w in s.words]
    i = too_long[0]
    raise TaskError(
        f"{path}:{lines[i]}: the word {words[i][:40]!r} has {lengths[i]} "
        f"pieces, more than a window holds (--max_seq_length={max_seq_length} "
        "less [CLS] and [SEP]); raise --max_seq_length or split the word")


def build_windows(path: str, sentences: Sequence[data.Sentence],
                  labels: Sequence[str], vocab: sentencepiece_vocab.Vocab,
                  max_seq_length: int) -> Windows:
  """The windows of one file's sentences, labelled on first pieces."""
  pieces = word_pieces(sentences, vocab)
  _check_word_lengths(path, sentences, pieces, max_seq_length)
  rows = {name: t.numpy() for name, t in windows.layout_windows(
      pieces, max_seq_length=max_seq_length,
      special_ids=vocab.special.as_dict()).items()}
  index = {label: i for i, label in enumerate(labels)}
  label_of_word = np.array([index[l] for s in sentences for l in s.labels],
                           np.int32)
  first_word = np.cumsum([0] + [len(s.words) for s in sentences])
  word = first_word[rows[SENTENCE_INDEX]][:, None] + rows["word_index"]
  scored = rows["word_index"] >= 0
  return Windows(
      rows["input_word_ids"], rows["input_mask"], rows["input_type_ids"],
      np.where(scored, label_of_word[np.where(scored, word, 0)],
               0).astype(np.int32),
      scored.astype(np.int32), rows[SENTENCE_INDEX])


def feature_spec(max_seq_length: int) -> dict[str, dict[str, Any]]:
  """Names, dtypes and shapes of every record's features (for metadata)."""
  s = {"dtype": "int64", "shape": [max_seq_length]}
  return {"input_word_ids": s, "input_mask": s, "input_type_ids": s,
          "label_ids": s, "label_weights": s,
          SENTENCE_INDEX: {"dtype": "int64", "shape": [1]}}


def _write_tfrecord(path: str, rows: Windows) -> None:
  tfrecord_writer.write_examples(path, {
      **dataclasses.asdict(rows), SENTENCE_INDEX: rows.sentence_index[:, None]})


def words_file_values(sentences: Sequence[data.Sentence]) -> dict[str, Any]:
  """What `<split>-<lang>.words.json` holds: the words and gold labels."""
  return {"words": [list(s.words) for s in sentences],
          "labels": [list(s.labels) for s in sentences]}


def create_tagging_data(task: str, data_dir: str, sp_model_file: str,
                        output_dir: str, *, max_seq_length: int = 128,
                        languages: Optional[Sequence[str]] = None,
                        labels: Optional[Sequence[str]] = None,
                        eval_splits: Sequence[str] = data.EVAL_SPLITS,
                        train_language: str = "en",
                        skip_unknown_labels: bool = False,
                        overwrite: bool = False) -> dict[str, Any]:
  """Writes the TFRecords, words files and `metadata.json`; returns it."""
  if task not in data.TASKS:
    raise TaskError(f"--task={task!r} is unknown; use one of "
                    f"{', '.join(data.TASKS)}")
  plan = prepared.plan_files(
      task, data.TASK_LANGUAGES, languages=languages, eval_splits=eval_splits,
      known_splits=data.EVAL_SPLITS, train_language=train_language,
      max_seq_length=max_seq_length, min_seq_length=3)
  prepared.check_output_dir(output_dir, overwrite)
  vocab = prepared.load_vocab(sp_model_file)
  paths = {key: data.split_file(task, data_dir, *key) for key in plan}
  read = {key: data.read_file(path, key[1]) for key, path in paths.items()}
  label_set = data.label_set(read[plan[0]], labels)
  source = "--labels" if labels else f"the labels of {paths[plan[0]]}"
  kept = {key: data.keep_known(paths[key], sentences, label_set, source,
                               skip_unknown_labels)
          for key, sentences in read.items()}
  rows = {key: build_windows(paths[key], r.sentences, label_set, vocab,
                             max_seq_length)
          for key, r in kept.items()}
  files: dict[str, dict[str, Any]] = {}
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    for (split, lang), result in kept.items():
      name = f"{split}-{lang}"
      _write_tfrecord(os.path.join(tmp, name + ".tfrecord"), rows[split, lang])
      info = {"file": name + ".tfrecord",
              "source": os.path.abspath(paths[split, lang]),
              "sentences": len(result.sentences),
              "words": sum(len(s.words) for s in result.sentences),
              "windows": len(rows[split, lang].sentence_index),
              "split_sentences": rows[split, lang].split_sentences,
              "skipped": result.skipped}
      if split != prepared.TRAIN_SPLIT:
        info["words_file"] = name + ".words.json"
        file_io.write_json(os.path.join(tmp, info["words_file"]),
                           words_file_values(result.sentences))
      files.setdefault(split, {})[lang] = info
    meta = prepared.write_metadata(
        tmp, fmt=FORMAT, version=FORMAT_VERSION, script=SCRIPT, vocab=vocab,
        values={"task": task, "labels": list(label_set),
                "metric": data.metric(task, label_set),
                "max_seq_length": max_seq_length,
                "source_dir": os.path.abspath(data_dir),
                "features": feature_spec(max_seq_length), "files": files})
  return meta


def read_metadata(data_dir: str) -> dict[str, Any]:
  """Reads and format-checks `<data_dir>/metadata.json` (local or remote)."""
  return prepared.read_metadata(data_dir, FORMAT, FORMAT_VERSION, SCRIPT)


def read_words_file(data_dir: str, info: Mapping[str, Any]
                    ) -> tuple[list[list[str]], list[list[str]]]:
  """An evaluation file's words and gold labels, per sentence."""
  path = os.path.join(data_dir, info["words_file"])
  try:
    values = file_io.read_json(path)
  except (OSError, ValueError) as e:
    raise TaskError(f"{path}: unreadable ({e}); re-run {SCRIPT}") from None
  return values["words"], values["labels"]


def summarize(meta: Mapping[str, Any], output_dir: str) -> str:
  """One line a person reads: what was written, what was cut or skipped."""
  parts = []
  for split, languages in meta["files"].items():
    sentences = sum(info["sentences"] for info in languages.values())
    parts.append(f"{split} {','.join(languages)} ({sentences} sentences)")
  notes = [f"{split}-{lang}: {info['split_sentences']} cut into windows, "
           f"{info['skipped']} skipped"
           for split, languages in meta["files"].items()
           for lang, info in languages.items()
           if info["split_sentences"] or info["skipped"]]
  return (f"{output_dir}: {meta['task']} ({len(meta['labels'])} labels, "
          f"scored by {meta['metric']}) {'; '.join(parts)}; "
          f"--max_seq_length={meta['max_seq_length']}: "
          f"{'; '.join(notes) or 'every sentence fits one window'}")
