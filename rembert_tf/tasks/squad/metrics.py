"""Exact match and F1 for extractive QA, per language.

Three normalisations, chosen by `language`:
- None: the official SQuAD v1.1 script (lowercase, drop ASCII punctuation,
  drop English a/an/the, collapse whitespace). tf-models-official's
  `squad_evaluate_v1_1` is the same script; it is not called because it only
  returns file-level fractions, and HasAns/NoAns and per-language scores need
  per-question ones (the tests check both agree).
- a language code: MLQA's official evaluation. Every Unicode punctuation
  character (category P*) and ASCII punctuation is dropped, then the
  language's articles, then answers are split on whitespace, except zh (and
  ja, not part of MLQA) where each CJK ideograph U+4E00..U+9FA5 is a token of
  its own ("mixed segmentation"). As in MLQA's script, Arabic drops every
  "ال", not only the prefix. Languages MLQA has no rules for fall back to
  whitespace tokens and no articles, with a warning.

Per question the best score over the gold answers counts; the averages are
x100. A question without a prediction scores 0. SQuAD 2.0 (option) scores
unanswerable questions against "" and reports has-answer and no-answer
subsets.
"""

import collections
import re
import string
import unicodedata
from typing import Any, Mapping, Optional, Sequence

from absl import logging
import numpy as np

from rembert_tf.tasks.errors import TaskError

_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(
        r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
MIXED_SEGMENTATION_LANGUAGES = ("zh", "ja")
_CJK = re.compile("[\u4e00-\u9fa5]")
_warned: set[str] = set()


def describe_normalization(language: Optional[str]) -> str:
  """What `normalize_answer` does for `language` (goes into the results)."""
  if language is None:
    return "squad"
  if language in _MLQA_ARTICLES or language in MIXED_SEGMENTATION_LANGUAGES:
    return f"mlqa-{language}"
  return f"mlqa-unknown-{language}: whitespace tokens, no articles"


def _is_punctuation(char: str) -> bool:
  return (char in string.punctuation or
          unicodedata.category(char).startswith("P"))


def _mixed_segmentation(text: str) -> list[str]:
  """Each CJK ideograph alone; the text between them split on whitespace."""
  tokens, run = [], ""
  for char in text:
    if _CJK.match(char) or _is_punctuation(char):
      tokens.extend(run.split())
      tokens.append(char)
      run = ""
    else:
      run += char
  return tokens + run.split()


def normalize_answer(text: str, language: Optional[str] = None) -> str:
  """SQuAD's normalisation (language None) or MLQA's for `language`."""
  text = text.lower()
  if language is None:
    text = "".join(c for c in text if c not in string.punctuation)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())
  text = "".join(c for c in text if not _is_punctuation(c))
  if (language not in _MLQA_ARTICLES and
      language not in MIXED_SEGMENTATION_LANGUAGES and
      language not in _warned):
    _warned.add(language)
    logging.warning("MLQA has no normalisation rules for %r: using "
                    "whitespace tokens and no articles", language)
  articles = _MLQA_ARTICLES.get(language)
  if articles is not None:
    text = articles.sub(" ", text)
  if language in MIXED_SEGMENTATION_LANGUAGES:
    tokens = _mixed_segmentation(text)
  else:
    tokens = text.split()
  return " ".join(t for t in tokens if t.strip())


def exact_match_score(prediction: str, gold: str,
                      language: Optional[str] = None) -> float:
  return float(normalize_answer(prediction, language) ==
               normalize_answer(gold, language))


def f1_score(prediction: str, gold: str, language: Optional[str] = None, *,
             version_2: bool = False) -> float:
  """Token F1 of the normalised answers.

  Two empty answers score 0 in SQuAD v1.1 and MLQA, 1 in SQuAD 2.0 (where ""
  is the right answer to an unanswerable question).
  """
  predicted = normalize_answer(prediction, language).split()
  expected = normalize_answer(gold, language).split()
  if version_2 and (not predicted or not expected):
    return float(predicted == expected)
  same = sum((collections.Counter(predicted) &
              collections.Counter(expected)).values())
  if not same:
    return 0.0
  precision, recall = same / len(predicted), same / len(expected)
  return 2 * precision * recall / (precision + recall)


def _mean(scores: Sequence[float]) -> float:
  return 100.0 * float(np.mean(scores)) if len(scores) else 0.0


def evaluate(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str],
             *, language: Optional[str] = None,
             version_2_with_negative: bool = False) -> dict[str, Any]:
  """EM and F1 (x100) over the questions of `gold` (id -> answer texts).

  Returns exact_match, f1, num_questions, missing_predictions and
  normalization; with version_2_with_negative also has_answer_* and
  no_answer_* (exact_match, f1, questions).
  """
  em, f1, has_answer = [], [], []
  missing = 0
  for qas_id, answers in gold.items():
    answers = list(answers)
    has_answer.append(bool(answers))
    if version_2_with_negative:
      answers = [a for a in answers if normalize_answer(a, language)] or [""]
    elif not answers:
      raise TaskError(f"question {qas_id!r} has no gold answer; score SQuAD "
                      "2.0 data with version_2_with_negative")
    if qas_id not in predictions:
      missing += 1
      em.append(0.0)
      f1.append(0.0)
      continue
    predicted = predictions[qas_id]
    em.append(max(exact_match_score(predicted, a, language) for a in answers))
    f1.append(max(f1_score(predicted, a, language,
                           version_2=version_2_with_negative)
                  for a in answers))
  if missing:
    logging.warning("%d of %d questions have no prediction and score 0",
                    missing, len(gold))
  result = {"exact_match": _mean(em), "f1": _mean(f1),
            "num_questions": len(gold), "missing_predictions": missing,
            "normalization": describe_normalization(language)}
  if version_2_with_negative:
    has = np.array(has_answer, bool)
    for name, subset in (("has_answer", has), ("no_answer", ~has)):
      result[f"{name}_exact_match"] = _mean(np.array(em)[subset])
      result[f"{name}_f1"] = _mean(np.array(f1)[subset])
      result[f"{name}_questions"] = int(subset.sum())
  return result


def average(results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
  """Unweighted mean EM and F1 over languages (XTREME's average)."""
  return {"exact_match": float(np.mean([r["exact_match"]
                                        for r in results.values()])),
          "f1": float(np.mean([r["f1"] for r in results.values()]))}


def results_table(split: str, results: Mapping[str, Mapping[str, Any]]) -> str:
  """One row per language (EM, F1, questions), then the average.

  Takes plain dicts (language -> `evaluate` result), so it also formats a
  saved results file.
  """
  lines = [f"{'language':>8}  {split + ' EM':>10}  {split + ' F1':>10}  "
           f"{'questions':>9}"]
  lines += [f"{lang:>8}  {r['exact_match']:10.2f}  {r['f1']:10.2f}  "
            f"{r['num_questions']:9d}" for lang, r in results.items()]
  mean = average(results)
  lines.append(f"{'average':>8}  {mean['exact_match']:10.2f}  "
               f"{mean['f1']:10.2f}")
  return "\n".join(lines)
