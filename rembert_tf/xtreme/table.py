"""The paper's row: Table 16's columns, its Avg_task and Table 7's categories.

Scores are on the paper's x100 scale, each a task's unweighted mean over its
languages (XTREME's). A QA task enters every average as the mean of its EM and
F1: only that reproduces the paper's RemBERT row (Table 16's Avg_task 74.4 and
Table 7's QA 68.6, Avg 75.4; F1 alone would give a QA category of 76.6).
Table 7's categories: sentence-pair classification (XNLI, PAWS-X), structured
prediction (POS, NER), question answering (XQuAD, MLQA, TyDi-GoldP); its Avg
is over the three. A missing task is "-", and so is every average it enters:
an average over fewer tasks is not the paper's.
"""

from typing import Any, Mapping, Optional, Sequence

MISSING = "-"
# (task, Table 16's header), in its order.
COLUMNS = (("xnli", "XNLI Acc"), ("udpos", "POS F1"), ("panx", "NER F1"),
           ("pawsx", "PAWS-X Acc"), ("xquad", "XQuAD EM/F1"),
           ("mlqa", "MLQA EM/F1"), ("tydiqa", "TyDi-GoldP EM/F1"))
QA_TASKS = ("xquad", "mlqa", "tydiqa")
# Table 7's task categories.
CATEGORIES = (("Classification Acc", ("xnli", "pawsx")),
              ("Structured F1", ("udpos", "panx")),
              ("QA EM/F1", QA_TASKS))
# Each task's metrics in its results, main one last (QA: EM, F1).
METRICS = {"xnli": ("accuracy",), "pawsx": ("accuracy",),
           "udpos": ("f1",), "panx": ("f1",), "xquad": ("exact_match", "f1"),
           "mlqa": ("exact_match", "f1"), "tydiqa": ("exact_match", "f1")}


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
  if not values or any(v is None for v in values):
    return None
  return sum(values) / len(values)


def task_score(task: str, result: Optional[Mapping[str, Any]]
               ) -> Optional[float]:
  """The one number a task contributes to the averages (QA: mean of EM and
  F1); None when the task has no scores."""
  if not result or result.get("status") != "ok":
    return None
  return _mean([result["scores"][m]["average"] for m in METRICS[task]])


def paper_row(tasks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """Each column's score(s), Avg_task and Table 7's category averages."""
  cells = {}
  for task, _ in COLUMNS:
    result = tasks.get(task)
    if task_score(task, result) is None:
      cells[task] = None
    else:
      cells[task] = {m: result["scores"][m]["average"] for m in METRICS[task]}
  scores = {task: task_score(task, tasks.get(task)) for task, _ in COLUMNS}
  categories = {name: _mean([scores[t] for t in members])
                for name, members in CATEGORIES}
  return {"cells": cells,
          "avg_task": _mean(list(scores.values())),
          "categories": categories,
          "avg": _mean(list(categories.values()))}


def _number(value: Optional[float]) -> str:
  return MISSING if value is None else f"{value:.1f}"


def _cell(task: str, cell: Optional[Mapping[str, float]]) -> str:
  if cell is None:
    return MISSING if task not in QA_TASKS else f"{MISSING}/{MISSING}"
  return "/".join(_number(cell[m]) for m in METRICS[task])


def row_cells(row: Mapping[str, Any]) -> tuple[list[str], list[str]]:
  """(headers, values) of Table 16's row then Table 7's categories."""
  headers = [h for _, h in COLUMNS] + ["Avg_task"] + [
      name for name, _ in CATEGORIES] + ["Avg"]
  values = [_cell(t, row["cells"][t]) for t, _ in COLUMNS]
  values += [_number(row["avg_task"])]
  values += [_number(row["categories"][name]) for name, _ in CATEGORIES]
  values += [_number(row["avg"])]
  return headers, values


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """Right-aligned columns, as wide as their widest entry."""
  widths = [max(len(str(r[i])) for r in [headers, *rows])
            for i in range(len(headers))]
  lines = ["  ".join(f"{str(c):>{w}}" for c, w in zip(r, widths))
           for r in [headers, *rows]]
  return "\n".join(lines)


def markdown_table(headers: Sequence[str],
                   rows: Sequence[Sequence[str]]) -> str:
  lines = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
  lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
  return "\n".join(lines)


def row_table(model: str, row: Mapping[str, Any], markdown: bool = False
              ) -> str:
  headers, values = row_cells(row)
  render = markdown_table if markdown else text_table
  return render(["Model"] + headers, [[model] + values])


def language_table(task: str, result: Mapping[str, Any],
                   markdown: bool = False) -> str:
  """One row per language of the selected run, then the average."""
  metrics = METRICS[task]
  scores = result["scores"]
  languages = list(scores[metrics[0]]["languages"])
  rows = [[lang] + [_number(scores[m]["languages"][lang]) for m in metrics]
          for lang in languages]
  rows.append(["average"] + [_number(scores[m]["average"]) for m in metrics])
  headers = [result["split"]] + list(metrics)
  return (markdown_table if markdown else text_table)(headers, rows)


def sweep_table(training: str, runs: Mapping[str, Mapping[str, Any]],
                selected: Optional[str], markdown: bool = False) -> str:
  """Every rate of one training: its English dev score and status."""
  rows = []
  for rate, run in runs.items():
    status = run["status"]
    rows.append([rate, _number(run.get("select_score")),
                 status + (" (selected)" if rate == selected else "")])
  headers = ["learning rate", "English dev", training]
  return (markdown_table if markdown else text_table)(headers, rows)
