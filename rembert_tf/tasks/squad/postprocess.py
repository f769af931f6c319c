"""Answers from per-window start/end logits, and the prediction files.

The candidate spans of every window and their ranking per example are
`squad_windows.span_candidates`, the function the SavedModel calls in its
graph, so the best answer here is the one it serves. Of an example's ranked
candidates the first `n_best_size` distinct answer texts are kept. An answer's
text is the original context substring between its tokens' character offsets,
so it is exact (see squad_features). Probabilities are the softmax over the
n-best scores.

SQuAD 2.0: the null score is start + end logit of [CLS], the minimum over an
example's windows; the prediction is "" when null score minus the best
non-null score exceeds `null_score_diff_threshold` (that difference is written
to `null_odds.json`).
"""

import dataclasses
import json
import os
from typing import Any, Mapping, Optional

import numpy as np

from rembert_tf import file_io
from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.squad import windows as squad_windows
from rembert_tf.tasks.squad.features import EvalFeatures

PREDICTIONS_FILE = "predictions.json"
NBEST_FILE = "nbest_predictions.json"
NULL_ODDS_FILE = "null_odds.json"
# null_odds of an example none of whose windows has a valid span.
NO_SPAN_NULL_ODDS = 1e9


@dataclasses.dataclass(frozen=True)
class SquadPredictions:
  """id -> answer text, id -> n-best entries, and (v2) id -> null odds."""
  predictions: dict[str, str]
  nbest: dict[str, list[dict[str, Any]]]
  null_odds: Optional[dict[str, float]] = None


def _entry(text: str, start_logit: float, end_logit: float) -> dict[str, Any]:
  return {"text": text, "start_logit": float(start_logit),
          "end_logit": float(end_logit)}


def _with_probabilities(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
  scores = np.array([e["start_logit"] + e["end_logit"] for e in entries])
  p = np.exp(scores - scores.max())
  p /= p.sum()
  return [{**e, "probability": float(q)} for e, q in zip(entries, p)]


def postprocess(features: EvalFeatures, unique_ids: np.ndarray,
                start_logits: np.ndarray, end_logits: np.ndarray, *,
                n_best_size: int = 20, max_answer_length: int = 30,
                version_2_with_negative: bool = False,
                null_score_diff_threshold: float = 0.0) -> SquadPredictions:
  """Combines the windows' logits into one answer (and n-best) per example.

  Args:
    features: the evaluation file's examples and windows.
    unique_ids: int [N], the `unique_id` of each row of the logits; every
      feature must appear exactly once (in any order).
    start_logits: float [N, max_seq_length].
    end_logits: float [N, max_seq_length].
    n_best_size: answers kept per example (and top positions per window).
    max_answer_length: the longest answer, in tokens.
    version_2_with_negative: SQuAD 2.0 null answers.
    null_score_diff_threshold: predict "" when null - best non-null exceeds it.
  """
  num_features = len(features.example_index)
  unique_ids = np.asarray(unique_ids).reshape(-1)
  if (len(unique_ids) != num_features or
      not np.array_equal(np.sort(unique_ids), np.arange(num_features))):
    raise TaskError(f"post-processing got logits for {len(unique_ids)} rows "
                    f"but the evaluation file has {num_features} features "
                    "(unique ids 0..n-1, each once); evaluation would not be "
                    "exact")
  if n_best_size < 1 or max_answer_length < 1:
    raise TaskError(f"--n_best_size={n_best_size} and --max_answer_length="
                    f"{max_answer_length} must be at least 1")
  order = np.argsort(unique_ids)
  start_logits = np.asarray(start_logits, np.float64)[order]
  end_logits = np.asarray(end_logits, np.float64)[order]
  c = {name: t.numpy() for name, t in squad_windows.span_candidates(
      start_logits, end_logits, features.token_char_starts,
      features.token_char_ends, features.token_is_max_context,
      features.example_index, n_best_size=n_best_size,
      max_answer_length=max_answer_length).items()}
  bounds = np.searchsorted(c["example"],
                           np.arange(len(features.example_ids) + 1))
  null = {name: t.numpy() for name, t in squad_windows.null_windows(
      start_logits, end_logits, features.example_index,
      len(features.example_ids)).items()}
  predictions, nbest, null_odds = {}, {}, {}
  for index, qas_id in enumerate(features.example_ids):
    context = features.contexts[index]
    entries, seen = [], set()
    for r in range(bounds[index], bounds[index + 1]):
      w, s, e = c["window"][r], c["start"][r], c["end"][r]
      text = context[features.token_char_starts[w, s]:
                     features.token_char_ends[w, e]]
      if text not in seen:
        seen.add(text)
        entries.append(_entry(text, c["start_logit"][r], c["end_logit"][r]))
        if len(entries) == n_best_size:
          break
    best = entries[0] if entries else None
    if version_2_with_negative:
      w = null["window"][index]
      null_entry = _entry("", start_logits[w, 0], end_logits[w, 0])
      ranked = sorted(entries + [null_entry],
                      key=lambda x: -(x["start_logit"] + x["end_logit"]))
      entries = ranked[:n_best_size]
      if null_entry not in entries:
        entries.append(null_entry)
      diff = (null["score"][index] - best["start_logit"] - best["end_logit"]
              if best else NO_SPAN_NULL_ODDS)
      null_odds[qas_id] = float(diff)
      predictions[qas_id] = (best["text"] if best and
                             diff <= null_score_diff_threshold else "")
    else:
      predictions[qas_id] = best["text"] if best else ""
    nbest[qas_id] = _with_probabilities(entries or [_entry("", 0.0, 0.0)])
  return SquadPredictions(predictions, nbest,
                          null_odds if version_2_with_negative else None)


def _json(values: Mapping[str, Any]) -> str:
  return json.dumps(values, indent=2, ensure_ascii=False) + "\n"


def write_prediction_files(directory: str,
                           result: SquadPredictions) -> dict[str, str]:
  """Writes predictions.json, nbest_predictions.json (and null_odds.json).

  Each file is written atomically (local or gs:// paths); all texts are
  serialised before the first write. Returns file name -> path.
  """
  texts = {PREDICTIONS_FILE: _json(result.predictions),
           NBEST_FILE: _json(result.nbest)}
  if result.null_odds is not None:
    texts[NULL_ODDS_FILE] = _json(result.null_odds)
  paths = {}
  for name, text in texts.items():
    paths[name] = os.path.join(directory, name)
    file_io.write_text(paths[name], text)
  return paths
