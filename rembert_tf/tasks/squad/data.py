"""SQuAD JSON (v1.1, and 2.0 as an option) read into checked examples.

XQuAD, MLQA and TyDiQA-GoldP all ship in the SQuAD v1.1 layout::

  {"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ...,
   "qas": [{"id": ..., "question": ..., "answers": [{"text": ...,
   "answer_start": <char offset>}]}]}]}]}

SQuAD 2.0 adds `"is_impossible": true` questions with no answers (their
`plausible_answers` are ignored). A malformed file fails with one message that
names the file and the JSON path inside it, so it can be fixed without a
debugger. Content problems that real data sets do have (an answer that is not
the context substring at its `answer_start`, empty texts, repeated ids) fail
the same way by default, or, with `skip_bad_examples`, drop the question and
are counted per reason so the counts can go into the logs and metadata.

Training reads the first answer of each question; evaluation keeps every gold
answer (the metrics take the best match over them).
"""

import collections
import dataclasses
import json
import os
from typing import Any, Optional

from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.errors import read_utf8

# Reasons a question is skipped; every one is a key of ReadResult.skipped.
EMPTY_CONTEXT = "empty_context"
EMPTY_QUESTION = "empty_question"
DUPLICATE_ID = "duplicate_id"
NO_ANSWER = "no_answer"
EMPTY_ANSWER = "empty_answer"
ANSWER_NOT_IN_CONTEXT = "answer_not_in_context"
SKIP_REASONS = (EMPTY_CONTEXT, EMPTY_QUESTION, DUPLICATE_ID, NO_ANSWER,
                EMPTY_ANSWER, ANSWER_NOT_IN_CONTEXT)

_SKIP_HINT = ("; fix the file, or pass skip_bad_examples (--skip_bad_examples) "
              "to skip such questions and count them")


@dataclasses.dataclass(frozen=True)
class Answer:
  """A gold answer: its text and where it starts in the context (chars)."""
  text: str
  start: int

  @property
  def end(self) -> int:
    return self.start + len(self.text)


@dataclasses.dataclass(frozen=True)
class SquadExample:
  """One question on one context; `answers` is empty when impossible."""
  qas_id: str
  question: str
  context: str
  answers: tuple[Answer, ...]
  is_impossible: bool = False


@dataclasses.dataclass(frozen=True)
class ReadResult:
  """The examples kept, and per reason how many questions were skipped."""
  path: str
  examples: list[SquadExample]
  num_questions: int  # Read from the file, skipped ones included.
  skipped: dict[str, int]


def _json_type(value: Any) -> str:
  if value is None:
    return "null"
  if isinstance(value, bool):
    return "a boolean"
  return {str: "a string", int: "an int", float: "a number", list: "a list",
          dict: "an object"}.get(type(value), type(value).__name__)


class _Checker:
  """Type checks that name the file and the JSON path of the bad value."""

  def __init__(self, path: str):
    self.path = path

  def fail(self, where: str, message: str) -> TaskError:
    return TaskError(f"{self.path}: {where}: {message}")

  def get(self, obj: dict[str, Any], where: str, key: str, kind: type,
          default: Any = dataclasses.MISSING) -> Any:
    """obj[key], which must be of `kind` (int excludes booleans)."""
    if key not in obj:
      if default is not dataclasses.MISSING:
        return default
      raise self.fail(f"{where}.{key}" if where else key,
                      f"missing (expected {_json_type(kind())})")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
      raise self.fail(f"{where}.{key}" if where else key,
                      f"expected {_json_type(kind())}, found "
                      f"{_json_type(value)} {json.dumps(value)[:40]}")
    return value

  def items(self, obj: dict[str, Any], where: str,
            key: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, object) for each element of the list obj[key]."""
    out = []
    base = f"{where}.{key}" if where else key
    for i, item in enumerate(self.get(obj, where, key, list)):
      if not isinstance(item, dict):
        raise self.fail(f"{base}[{i}]",
                        f"expected an object, found {_json_type(item)}")
      out.append((f"{base}[{i}]", item))
    return out


def require_file(path: str) -> None:
  """Fails with the expected layout when `path` is not a file."""
  if not os.path.isfile(path):
    raise TaskError(f"{path}: file not found (expected SQuAD JSON such as "
                    "train-en.json, dev-<lang>.json)")


def load_json(path: str) -> Any:
  """Parses a JSON file; invalid JSON names the line and column."""
  require_file(path)
  text = read_utf8(path)
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise TaskError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})"
                    ) from None


def _answer_problem(context: str, answer: Answer) -> Optional[tuple[str, str]]:
  """(reason, description) when the answer cannot be used, else None."""
  if not answer.text.strip():
    return EMPTY_ANSWER, "the answer text is empty"
  found = context[max(answer.start, 0):answer.end]
  if answer.start < 0 or found != answer.text:
    return ANSWER_NOT_IN_CONTEXT, (
        f"the answer {answer.text!r} is not the context substring at "
        f"answer_start {answer.start} (found {found!r})")
  return None


def read_squad_file(path: str, *, is_training: bool,
                    version_2_with_negative: bool = False,
                    skip_bad_examples: bool = False) -> ReadResult:
  """Reads and checks one SQuAD JSON file.

  Args:
    path: the JSON file.
    is_training: keep only the first answer of each question (the training
      label); otherwise keep every gold answer.
    version_2_with_negative: accept SQuAD 2.0 `is_impossible` questions.
    skip_bad_examples: skip and count questions with content problems (see
      SKIP_REASONS) instead of failing on the first one.

  Returns:
    The examples in file order and the skip counts.
  """
  check = _Checker(path)
  root = load_json(path)
  if not isinstance(root, dict):
    raise check.fail("(top level)", f"expected an object with a \"data\" list "
                     f"(SQuAD layout), found {_json_type(root)}")
  examples, seen_ids = [], set()
  skipped = collections.Counter({reason: 0 for reason in SKIP_REASONS})
  num_questions = 0

  def problem(where: str, reason: str, description: str) -> None:
    if not skip_bad_examples:
      raise check.fail(where, description + _SKIP_HINT)
    skipped[reason] += 1

  for article_path, article in check.items(root, "", "data"):
    for par_path, paragraph in check.items(article, article_path, "paragraphs"):
      context = check.get(paragraph, par_path, "context", str)
      for qa_path, qa in check.items(paragraph, par_path, "qas"):
        num_questions += 1
        qas_id = qa.get("id")
        if isinstance(qas_id, int) and not isinstance(qas_id, bool):
          qas_id = str(qas_id)
        else:
          qas_id = check.get(qa, qa_path, "id", str)
        question = check.get(qa, qa_path, "question", str)
        impossible = check.get(qa, qa_path, "is_impossible", bool, False)
        raw = (check.items(qa, qa_path, "answers")
               if "answers" in qa or not impossible else [])
        answers = [(where, Answer(check.get(a, where, "text", str),
                                  check.get(a, where, "answer_start", int)))
                   for where, a in raw]
        if not context.strip():
          problem(par_path + ".context", EMPTY_CONTEXT, "the context is empty")
          continue
        if qas_id in seen_ids:
          problem(qa_path + ".id", DUPLICATE_ID,
                  f"the id {qas_id!r} was already used by an earlier question")
          continue
        seen_ids.add(qas_id)
        if not question.strip():
          problem(qa_path + ".question", EMPTY_QUESTION,
                  "the question is empty")
          continue
        if impossible and version_2_with_negative:
          examples.append(SquadExample(qas_id, question, context, (), True))
          continue
        if not answers:
          hint = (" (an is_impossible question: pass version_2_with_negative "
                  "(--version_2_with_negative) to read SQuAD 2.0)"
                  if impossible else "")
          problem(qa_path + ".answers", NO_ANSWER,
                  "the question has no answer" + hint)
          continue
        used = answers[:1] if is_training else answers
        bad = [(where, p) for where, a in used
               if (p := _answer_problem(context, a))]
        if bad:
          where, (reason, description) = bad[0]
          problem(where, reason, description)
          continue
        examples.append(SquadExample(qas_id, question, context,
                                     tuple(a for _, a in used)))
  if not examples:
    raise TaskError(f"{path}: no usable questions (read {num_questions}, "
                    f"skipped {dict(+skipped) or 'none'})")
  return ReadResult(path, examples, num_questions, dict(skipped))
