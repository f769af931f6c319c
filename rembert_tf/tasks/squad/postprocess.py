"""Answers from per-window start/end logits, and the prediction files.

A candidate span of a window starts at a context token that is in its max
context window and ends at a context token at or after it, at most
`max_answer_length` tokens long; its score is start_logit + end_logit. The
`n_best_size` best start and end positions of every window are found at once
with NumPy (no Python loop over positions), the candidates of all windows of an
example are ranked together, and the first `n_best_size` distinct answer texts
are kept. An answer's text is the original context substring between its
tokens' character offsets, so it is exact (see squad_features). Probabilities
are the softmax over the n-best scores.

SQuAD 2.0: the null score is start + end logit of [CLS], the minimum over an
example's windows; the prediction is "" when null score minus the best
non-null score exceeds `null_score_diff_threshold` (that difference is written
to `null_odds.json`).

Unlike google-research/bert, start/end positions that can never be valid
(outside the context, not max context) are masked before taking the top
n_best_size, so they cannot crowd out valid ones.
"""

import dataclasses
import json
import os
from typing import Any, Mapping, Optional

import numpy as np

from rembert_tf import file_io
from rembert_tf.tasks.errors import TaskError
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


def _candidates(features: EvalFeatures, start_logits: np.ndarray,
                end_logits: np.ndarray, n_best_size: int,
                max_answer_length: int) -> dict[str, np.ndarray]:
  """Every valid (window, start, end) among each window's top positions."""
  starts, ends = features.token_char_starts, features.token_char_ends
  in_context = (starts >= 0) & (ends > starts)  # Whitespace-only pieces: no.
  start_scores = np.where(in_context & features.token_is_max_context,
                          start_logits, -np.inf)
  end_scores = np.where(in_context, end_logits, -np.inf)
  k = min(n_best_size, start_scores.shape[1])
  top_start = np.argpartition(-start_scores, k - 1, axis=1)[:, :k]
  top_end = np.argpartition(-end_scores, k - 1, axis=1)[:, :k]
  s = np.take_along_axis(start_scores, top_start, axis=1)[:, :, None]
  e = np.take_along_axis(end_scores, top_end, axis=1)[:, None, :]
  i, j = top_start[:, :, None], top_end[:, None, :]
  valid = (np.isfinite(s) & np.isfinite(e) & (j >= i) &
           (j - i < max_answer_length))
  window, a, b = np.nonzero(valid)
  start, end = top_start[window, a], top_end[window, b]
  candidates = {"window": window, "start": start, "end": end,
                "start_logit": start_logits[window, start],
                "end_logit": end_logits[window, end],
                "example": features.example_index[window]}
  score = candidates["start_logit"] + candidates["end_logit"]
  order = np.lexsort((-score, candidates["example"]))
  return {name: v[order] for name, v in candidates.items()}


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
  c = _candidates(features, start_logits, end_logits, n_best_size,
                  max_answer_length)
  bounds = np.searchsorted(c["example"],
                           np.arange(len(features.example_ids) + 1))
  null = start_logits[:, 0] + end_logits[:, 0]
  by_example = np.argsort(features.example_index, kind="stable")
  window_bounds = np.searchsorted(features.example_index[by_example],
                                  np.arange(len(features.example_ids) + 1))
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
      windows = by_example[window_bounds[index]:window_bounds[index + 1]]
      w = windows[np.argmin(null[windows])]
      null_entry = _entry("", start_logits[w, 0], end_logits[w, 0])
      ranked = sorted(entries + [null_entry],
                      key=lambda x: -(x["start_logit"] + x["end_logit"]))
      entries = ranked[:n_best_size]
      if null_entry not in entries:
        entries.append(null_entry)
      diff = (null[w] - best["start_logit"] - best["end_logit"]
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
