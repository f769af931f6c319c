"""Token-tagging data: the task's files, read into checked sentences.

Layouts (XTREME's): `<data_dir>/train-en.tsv`, `dev-<lang>.tsv`,
`test-<lang>.tsv`, one `token<TAB>label` line per word and a blank line (or a
run of them) between sentences. Also read as they are published:
  - raw WikiANN (`panx`): every token carries its language as a prefix
    (`en:Paris<TAB>B-LOC`); a file whose first token starts with `<lang>:` is
    in that form, and the prefix is stripped from each of its tokens;
  - CoNLL-U (`udpos`, where `<split>-<lang>.tsv` is absent:
    `<split>-<lang>.conllu`): the FORM and UPOS columns (2nd and 4th of 10);
    multi-word token lines (ids `1-2`) and empty nodes (`1.1`) are skipped,
    as UD defines them (the words are the syntactic ones), `#` lines are
    comments.
Task "tsv" reads the same TSV layout for any labels and languages.

Tokens are kept exactly as read (no normalisation of our own); `features`
turns them into pieces. Every problem (a line with other than two columns, an
empty token, a sentence with no tokens, an empty file) names the file and
line. A label outside the label set (the training file's labels, or
`--labels`) is such an error too, or, with `skip_unknown_labels`, drops its
sentence, counted.
"""

import dataclasses
import io
import os
from typing import Optional, Sequence

from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.errors import read_utf8

EVAL_SPLITS = ("dev", "test")
TASKS = ("panx", "udpos", "tsv")
TASK_LANGUAGES = {
    "panx": ("af", "ar", "bg", "bn", "de", "el", "en", "es", "et", "eu", "fa",
             "fi", "fr", "he", "hi", "hu", "id", "it", "ja", "jv", "ka", "kk",
             "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru", "sw", "ta", "te",
             "th", "tl", "tr", "ur", "vi", "yo", "zh"),
    "udpos": ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi",
              "fr", "he", "hi", "hu", "id", "it", "ja", "kk", "ko", "mr", "nl",
              "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo",
              "zh")}
# How each task is scored: entity-level F1 (CoNLL) or word accuracy.
ENTITY_F1, ACCURACY = "entity_f1", "accuracy"
_CONLLU_COLUMNS = 10


@dataclasses.dataclass(frozen=True)
class Sentence:
  """One sentence's words and labels as read, and each word's line."""
  words: tuple[str, ...]
  labels: tuple[str, ...]
  lines: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ReadResult:
  """The sentences kept and how many were skipped for an unknown label."""
  path: str
  sentences: list[Sentence]
  skipped: int


def split_file(task: str, data_dir: str, split: str, lang: str) -> str:
  """The file of one split and language: XTREME's TSV name, or for udpos the
  CoNLL-U file when there is no TSV."""
  tsv = os.path.join(data_dir, f"{split}-{lang}.tsv")
  conllu = os.path.join(data_dir, f"{split}-{lang}.conllu")
  if task == "udpos" and not os.path.isfile(tsv) and os.path.isfile(conllu):
    return conllu
  return tsv


def metric(task: str, labels: Sequence[str]) -> str:
  """NER (panx, or tsv with IOB labels) is scored by entities, else words."""
  if task == "panx" or task == "tsv" and all(
      l == "O" or l[:2] in ("B-", "I-") for l in labels):
    return ENTITY_F1
  return ACCURACY


def _require_file(path: str) -> None:
  if not os.path.isfile(path):
    raise TaskError(f"{path}: file not found (expected the XTREME layout "
                    "train-en.tsv, dev-<lang>.tsv, test-<lang>.tsv; drop the "
                    "language from --languages if it has no file)")


class _Sentences:
  """Collects words into sentences, each word with its line."""

  def __init__(self):
    self.sentences: list[Sentence] = []
    self._words: list[tuple[str, str, int]] = []

  def add(self, word: str, label: str, line: int) -> None:
    self._words.append((word, label, line))

  def end(self) -> None:
    if self._words:
      words, labels, lines = zip(*self._words)
      self.sentences.append(Sentence(words, labels, lines))
      self._words = []


def _read_tsv(path: str, lang: str) -> list[Sentence]:
  rows = [line.rstrip("\r\n") for line in
          io.StringIO(read_utf8(path), newline="")]
  prefix = f"{lang}:"
  first = next((r for r in rows if r.strip()), "")
  raw_wikiann = first.startswith(prefix)
  out = _Sentences()
  for number, row in enumerate(rows, start=1):
    if not row.strip() and "\t" not in row:
      out.end()
      continue
    fields = row.split("\t")
    if len(fields) != 2:
      raise TaskError(f"{path}:{number}: expected token<TAB>label, found "
                      f"{len(fields)} tab-separated field(s)")
    token, label = fields
    if raw_wikiann:
      if not token.startswith(prefix):
        raise TaskError(f"{path}:{number}: the file is raw WikiANN (its first "
                        f"token starts with {prefix!r}) but this token does "
                        "not")
      token = token[len(prefix):]
    out.add(token, label, number)
  out.end()
  return out.sentences


def _read_conllu(path: str) -> list[Sentence]:
  out, block_start, has_word = _Sentences(), None, False
  rows = [line.rstrip("\r\n") for line in
          io.StringIO(read_utf8(path), newline="")]
  for number, row in enumerate(rows + [""], start=1):
    if not row.strip():
      if block_start is not None and not has_word:
        raise TaskError(f"{path}:{block_start}: a sentence with no tokens "
                        "(only comments or multi-word token lines)")
      out.end()
      block_start, has_word = None, False
      continue
    block_start = block_start or number
    if row.startswith("#"):
      continue
    fields = row.split("\t")
    if len(fields) != _CONLLU_COLUMNS:
      raise TaskError(f"{path}:{number}: expected the {_CONLLU_COLUMNS} "
                      f"tab-separated CoNLL-U columns, found {len(fields)}")
    if "-" in fields[0] or "." in fields[0]:
      continue  # A multi-word token's range or an empty node.
    has_word = True
    out.add(fields[1], fields[3], number)
  return out.sentences


def read_file(path: str, lang: str) -> list[Sentence]:
  """Reads one file (TSV, raw WikiANN or CoNLL-U by its name), checked."""
  _require_file(path)
  sentences = (_read_conllu(path) if path.endswith(".conllu")
               else _read_tsv(path, lang))
  for sentence in sentences:
    for word, label, line in zip(sentence.words, sentence.labels,
                                 sentence.lines):
      if not word.strip():
        raise TaskError(f"{path}:{line}: the token is empty or only "
                        "whitespace")
      if not label.strip():
        raise TaskError(f"{path}:{line}: the label of {word!r} is empty")
  if not sentences:
    raise TaskError(f"{path}: no sentences (an empty file?)")
  return sentences


def label_set(train: Sequence[Sentence],
              labels: Optional[Sequence[str]] = None) -> tuple[str, ...]:
  """`--labels` when given (distinct), else the training file's, sorted."""
  if labels:
    if len(set(labels)) != len(labels) or len(labels) < 2:
      raise TaskError(f"--labels={','.join(labels)}: give two or more "
                      "distinct labels")
    return tuple(labels)
  found = sorted({l for s in train for l in s.labels})
  if len(found) < 2:
    raise TaskError(f"the training file has the one label {found}; tagging "
                    "needs two or more (or pass --labels)")
  return tuple(found)


def keep_known(path: str, sentences: Sequence[Sentence],
               labels: Sequence[str], source: str,
               skip_unknown_labels: bool) -> ReadResult:
  """The sentences whose labels are all in `labels` (from `source`, for the
  message); another label fails naming file and line, unless skipped."""
  known, kept = set(labels), []
  for sentence in sentences:
    unknown = [(l, n) for l, n in zip(sentence.labels, sentence.lines)
               if l not in known]
    if not unknown:
      kept.append(sentence)
    elif not skip_unknown_labels:
      label, line = unknown[0]
      raise TaskError(
          f"{path}:{line}: label {label!r} is not in the label set "
          f"{list(labels)} ({source}); fix the file, add it to --labels, or "
          "pass --skip_unknown_labels to skip such sentences and count them")
  if not kept:
    raise TaskError(f"{path}: no sentence left: every one has a label outside "
                    f"{list(labels)}")
  return ReadResult(path, kept, len(sentences) - len(kept))
