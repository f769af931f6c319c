"""Which files under --data_dir feed each XTREME task, and in which languages.

XTREME's `scripts/download_data.sh` writes (`download/` is --data_dir):

  xnli/, pawsx/      train-en.tsv, dev-<lang>.tsv, test-<lang>.tsv
  udpos/, panx/      train-en.tsv, dev-<lang>.tsv, test-<lang>.tsv
  squad/             train-v1.1.json, dev-v1.1.json
  xquad/             xquad.<lang>.json
  mlqa/MLQA_V1/      dev/dev-context-<lang>-question-<lang>.json, test/test-...
  tydiqa/            tydiqa-goldp-v1.1-train/tydiqa.en.train.json,
                     tydiqa-goldp-v1.1-dev/tydiqa.<lang>.dev.json

XQuAD and MLQA are zero-shot from one SQuAD v1.1 fine-tuning (their shared
"training" is `squad`); TyDiQA-GoldP fine-tunes on its own English training
set. The demo's embedded corpus (`rembert_tf.data.demo_corpus`) has the same
names for the four TSV tasks but a single SQuAD-style set, `squad/train-en.json`
and `squad/{dev,test}-<lang>.json`: `DEMO` reads it for all three QA tasks,
each under its own protocol (XQuAD, MLQA: its test files, SQuAD and MLQA
normalisation; TyDi: its own fine-tuning, scored on dev).

A task's report split is test where the test files carry labels, else dev
(XTREME removes some test labels for its leaderboard); the learning rate is
chosen on English dev.
"""

import dataclasses
import json
import os
from typing import Mapping, Optional, Union

from rembert_tf.data import demo_corpus
from rembert_tf.tasks.classification import data as classification_data
from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.tagging import data as tagging_data

# Table 16's column order.
TASKS = ("xnli", "udpos", "panx", "pawsx", "xquad", "mlqa", "tydiqa")
LANG = "{lang}"
CLASSIFICATION, TAGGING = "classification", "tagging"


@dataclasses.dataclass(frozen=True)
class PreparedTask:
  """A task whose data a `create_*_data.py` step prepares once (TSV files).

  Attributes:
    task: the library's task name (its labels, metric, languages).
    kind: CLASSIFICATION or TAGGING (which library runs it).
    directory: under --data_dir, the XTREME TSV files.
    languages: evaluation languages.
    labels: the label set, when the English training file lacks some.
  """
  task: str
  kind: str
  directory: str
  languages: tuple[str, ...]
  labels: Optional[tuple[str, ...]] = None

  @property
  def training(self) -> str:
    """Its own fine-tuning: each TSV task trains on its English file."""
    return self.task


@dataclasses.dataclass(frozen=True)
class QaTask:
  """An extractive-QA task in SQuAD v1.1 JSON (`run_squad`'s input).

  Attributes:
    training: the fine-tuning it is evaluated from ("squad" for XQuAD and
      MLQA, which share one), named by its English training file.
    train_file: that English training file, under --data_dir.
    select_file: the English dev file the rate is chosen on; None: the
      report files' English one (TyDi, whose dev is its report split).
    test_pattern / dev_pattern: the evaluation files, with {lang}.
    languages: evaluation languages.
    normalization: "squad" or "mlqa" answer normalisation.
  """
  training: str
  train_file: str
  select_file: Optional[str]
  test_pattern: Optional[str]
  dev_pattern: Optional[str]
  languages: tuple[str, ...]
  normalization: str = "squad"


TaskLayout = Union[PreparedTask, QaTask]


@dataclasses.dataclass(frozen=True)
class Layout:
  name: str
  tasks: Mapping[str, TaskLayout]


_SQUAD_TRAIN = "squad/train-v1.1.json"
_SQUAD_DEV = "squad/dev-v1.1.json"
XTREME = Layout("xtreme", {
    "xnli": PreparedTask("xnli", CLASSIFICATION, "xnli",
                         classification_data.TASK_LANGUAGES["xnli"]),
    "pawsx": PreparedTask("pawsx", CLASSIFICATION, "pawsx",
                          classification_data.TASK_LANGUAGES["pawsx"]),
    "udpos": PreparedTask("udpos", TAGGING, "udpos",
                          tagging_data.TASK_LANGUAGES["udpos"]),
    "panx": PreparedTask("panx", TAGGING, "panx",
                         tagging_data.TASK_LANGUAGES["panx"]),
    "xquad": QaTask("squad", _SQUAD_TRAIN, _SQUAD_DEV,
                    "xquad/xquad.{lang}.json", None,
                    ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th",
                     "zh", "hi")),
    "mlqa": QaTask(
        "squad", _SQUAD_TRAIN, _SQUAD_DEV,
        "mlqa/MLQA_V1/test/test-context-{lang}-question-{lang}.json",
        "mlqa/MLQA_V1/dev/dev-context-{lang}-question-{lang}.json",
        ("en", "es", "de", "ar", "hi", "vi", "zh"), normalization="mlqa"),
    "tydiqa": QaTask(
        "tydiqa", "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.en.train.json", None,
        None, "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.{lang}.dev.json",
        ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")),
})

_DEMO_LANGUAGES = tuple(demo_corpus.LANGUAGES)
DEMO = Layout("demo", {
    "xnli": PreparedTask("xnli", CLASSIFICATION, "xnli", _DEMO_LANGUAGES),
    "pawsx": PreparedTask("pawsx", CLASSIFICATION, "pawsx", _DEMO_LANGUAGES),
    "udpos": PreparedTask("udpos", TAGGING, "udpos", _DEMO_LANGUAGES),
    # English has no I-LOC or I-PER: the set comes from the generator.
    "panx": PreparedTask("panx", TAGGING, "panx", _DEMO_LANGUAGES,
                         tuple(demo_corpus.NER_LABELS)),
    "xquad": QaTask("squad", "squad/train-en.json", "squad/dev-en.json",
                    "squad/test-{lang}.json", None, _DEMO_LANGUAGES),
    "mlqa": QaTask("squad", "squad/train-en.json", "squad/dev-en.json",
                   "squad/test-{lang}.json", "squad/dev-{lang}.json",
                   _DEMO_LANGUAGES, normalization="mlqa"),
    "tydiqa": QaTask("tydiqa", "squad/train-en.json", None, None,
                     "squad/dev-{lang}.json", _DEMO_LANGUAGES),
})
LAYOUTS = {layout.name: layout for layout in (XTREME, DEMO)}


def _first_line(path: str) -> str:
  with open(path, encoding="utf-8", errors="replace") as f:
    for line in f:
      if line.strip():
        return line.rstrip("\r\n")
  return ""


def prepared_test_labelled(task: PreparedTask, data_dir: str) -> bool:
  """Whether the English test file exists with its label column (XTREME's
  leaderboard copies have none): 3 fields for pairs, 2 for tagged words."""
  directory = os.path.join(data_dir, task.directory)
  if task.kind == CLASSIFICATION:
    path = classification_data.split_file(directory, "test", "en")
    fields = 3
  else:
    path = tagging_data.split_file(task.task, directory, "test", "en")
    if path.endswith(".conllu"):
      return os.path.isfile(path)
    fields = 2
  return os.path.isfile(path) and len(_first_line(path).split("\t")) == fields


def check_prepared(task: PreparedTask, data_dir: str) -> None:
  """The training file and every language's dev file exist, before any run."""
  directory = os.path.join(data_dir, task.directory)
  if task.kind == CLASSIFICATION:
    wanted = [classification_data.split_file(directory, "train", "en")] + [
        classification_data.split_file(directory, "dev", lang)
        for lang in task.languages]
  else:
    wanted = [tagging_data.split_file(task.task, directory, "train", "en")
              ] + [tagging_data.split_file(task.task, directory, "dev", l)
                   for l in task.languages]
  missing = [p for p in wanted if not os.path.isfile(p)]
  if missing:
    raise TaskError(f"{len(missing)} of the task's files are missing under "
                    f"{directory}, e.g. {missing[0]} (see the README's XTREME "
                    "layout)")


def _labelled(path: str) -> bool:
  """Whether a SQuAD JSON file's first question has a gold answer."""
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  for article in data.get("data", []):
    for paragraph in article.get("paragraphs", []):
      for qa in paragraph.get("qas", []):
        return bool(qa.get("answers"))
  return False


def qa_report(task: QaTask, data_dir: str) -> tuple[str, str]:
  """(split, absolute file pattern) scored for every language: test where
  its files are labelled, else dev; every file must exist."""
  for split, pattern in (("test", task.test_pattern),
                         ("dev", task.dev_pattern)):
    if pattern is None:
      continue
    pattern = os.path.join(data_dir, pattern)
    english = pattern.replace(LANG, "en")
    if split == "test" and not (os.path.isfile(english) and
                                _labelled(english)):
      continue
    missing = [pattern.replace(LANG, l) for l in task.languages
               if not os.path.isfile(pattern.replace(LANG, l))]
    if missing:
      raise TaskError(f"{len(missing)} evaluation files are missing, e.g. "
                      f"{missing[0]} (see the README's XTREME layout)")
    return split, pattern
  raise TaskError(f"no labelled evaluation files under {data_dir} for "
                  f"{task.test_pattern or task.dev_pattern} (see the README's "
                  "XTREME layout)")


def check_qa(task: QaTask, data_dir: str) -> None:
  """The training file, the selection file and every report file exist."""
  for name in (task.train_file, task.select_file):
    if name and not os.path.isfile(os.path.join(data_dir, name)):
      raise TaskError(f"{os.path.join(data_dir, name)} not found (see the "
                      "README's XTREME layout)")
  qa_report(task, data_dir)
