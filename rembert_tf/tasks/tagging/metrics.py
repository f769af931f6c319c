"""Tagging scores per language, as XTREME reports them.

NER (`entity_f1`): entity-level precision, recall and F1 with CoNLL's rules
(conlleval, and seqeval's default mode), for IOB1 and IOB2 alike: a `B-X`
starts an entity; an `I-X` continues the entity before it when that one is of
type X (the previous tag is `B-X` or `I-X`), and otherwise starts one; any
other tag (`O`) ends it. An entity is right when its type, first and last
word all are. POS (`accuracy`): the fraction of words tagged right, which is
the token-level F1 XTREME reports for POS (every word has exactly one gold
and one predicted tag, so precision = recall = accuracy).

Scores are fractions (the classifier's accuracy too); the average over
languages is unweighted, as XTREME's.
"""

from typing import Any, Mapping, Sequence

import numpy as np

from rembert_tf.tasks.tagging import data


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
  """(type, first, last) of each entity of one sentence's tags."""
  out, kind, start = [], None, 0
  for i, tag in enumerate(list(tags) + ["O"]):
    prefix, _, tag_type = tag.partition("-")
    inside = prefix in ("B", "I")
    continues = prefix == "I" and tag_type == kind
    if kind is not None and not continues:
      out.append((kind, start, i - 1))
      kind = None
    if inside and not continues:
      kind, start = tag_type, i
  return out


def _fraction(numerator: int, denominator: int) -> float:
  return numerator / denominator if denominator else 0.0


def entity_scores(gold: Sequence[Sequence[str]],
                  predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
  """Entity precision, recall and F1 over the sentences, and the counts."""
  num_gold = num_predicted = num_correct = 0
  for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
    g, p = set(entities(gold_tags)), set(entities(predicted_tags))
    num_gold, num_predicted = num_gold + len(g), num_predicted + len(p)
    num_correct += len(g & p)
  precision = _fraction(num_correct, num_predicted)
  recall = _fraction(num_correct, num_gold)
  return {"precision": precision, "recall": recall,
          "f1": _fraction(2 * precision * recall, precision + recall),
          "gold_entities": num_gold, "predicted_entities": num_predicted}


def accuracy_scores(gold: Sequence[Sequence[str]],
                    predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
  """Word accuracy, reported as precision = recall = F1."""
  pairs = [(g, p) for gold_tags, predicted_tags in zip(gold, predicted,
                                                       strict=True)
           for g, p in zip(gold_tags, predicted_tags, strict=True)]
  accuracy = _fraction(sum(g == p for g, p in pairs), len(pairs))
  return {"precision": accuracy, "recall": accuracy, "f1": accuracy}


def score(metric: str, gold: Sequence[Sequence[str]],
          predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
  """`entity_scores` or `accuracy_scores`, by the data's metric."""
  if metric == data.ENTITY_F1:
    return entity_scores(gold, predicted)
  return accuracy_scores(gold, predicted)


def results_table(split: str, results: Mapping[str, Any]) -> str:
  """One row per language, then the average; `results` is one split of
  `eval_results.json` (its "f1", "precision", "recall", "sentences" and
  "split_sentences" per language, and "metric")."""
  entity = results["metric"] == data.ENTITY_F1
  name = f"{split} {'F1' if entity else 'accuracy'}"
  lines = [f"{'language':>8}  {name:>14}" +
           (f"  {'precision':>9}  {'recall':>9}" if entity else "") +
           f"  {'sentences':>9}  {'cut':>5}"]
  for lang, f1 in results["f1"].items():
    lines.append(
        f"{lang:>8}  {f1:14.4f}" +
        (f"  {results['precision'][lang]:9.4f}  {results['recall'][lang]:9.4f}"
         if entity else "") +
        f"  {results['sentences'][lang]:9d}  "
        f"{results['split_sentences'][lang]:5d}")
  average = float(np.mean(list(results["f1"].values())))
  lines.append(f"{'average':>8}  {average:14.4f}")
  return "\n".join(lines)
