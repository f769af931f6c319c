"""The suite: every task's sweep through the task library, the rate chosen on
English dev, the paper's row.

The protocol (the paper's appendix A.3 and Table 10): each training (one per
TSV task, SQuAD for XQuAD and MLQA, TyDiQA-GoldP's own) fine-tunes once per
rate of its preset; the rate with the best English dev score (accuracy, F1,
QA F1) is selected, and every language's test score (dev where test labels are
absent) of that run is the task's. Runs call the same library functions as
`run_classifier.py`, `run_tagging.py` and `run_squad.py`, with the settings
of the preset's flagfile.

Under --output_dir:
  <task>/data/                 prepared TFRecords (TSV tasks), made once
  <training>/lr_<rate>/        one run's model_dir; `run.json` once finished
  <training>/features/         QA windows, shared by the rates
  results.json, results.md, results.txt   rewritten after every run

A finished run (its `run.json`) is skipped; an interrupted one resumes from
its checkpoint (the library's restart). A QA run evaluates each file set with
`--nodo_train` on the trained model_dir and keeps that evaluation's
`eval_results.json` as `<name>_results.json` and its predictions as
`predictions_<name>/`. A failing task or run is logged and recorded with its
message while the others go on.
"""

import dataclasses
import os
import shutil
import time
from typing import Any, Mapping, Optional, Sequence

from absl import logging

from rembert_tf import file_io
from rembert_tf.tasks import prepared as prepared_lib
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import run as classifier_run
from rembert_tf.tasks.squad import run as squad_run
from rembert_tf.tasks.tagging import features as tagging_features
from rembert_tf.tasks.tagging import run as tagging_run
from rembert_tf.tasks.errors import TaskError
from rembert_tf.xtreme import layout as layout_lib
from rembert_tf.xtreme import presets as presets_lib
from rembert_tf.xtreme import table

RESULTS_FILE = "results.json"
MARKDOWN_FILE = "results.md"
TEXT_FILE = "results.txt"
RUN_FILE = "run.json"
DATA_DIR = "data"
FEATURES_DIR = "features"
SELECT_EVAL = "select"
OK, FAILED, PENDING, NOT_RUN = "ok", "failed", "pending", "not run"
# The English dev metric each kind of training is selected on.
_SELECT_METRIC = {layout_lib.CLASSIFICATION: "accuracy",
                  layout_lib.TAGGING: "f1", "qa": "f1"}


@dataclasses.dataclass(frozen=True)
class SuiteConfig:
  """What the suite runs: the model, the data, the protocol.

  Attributes:
    overrides: params fields set on every run after the flagfile's (e.g.
      tpu, distribution_strategy, do_export).
    model_name: the row's label.
  """
  config_file: str
  sp_model_file: str
  data_dir: str
  output_dir: str
  preset: presets_lib.Preset
  layout: layout_lib.Layout
  init_checkpoint: Optional[str] = None
  tasks: Sequence[str] = layout_lib.TASKS
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  model_name: str = "model"


def rate_key(rate: float) -> str:
  return f"{rate:g}"


def select_rate(runs: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
  """The rate whose run scored best on English dev (the paper's selection);
  a tie goes to the first in the grid, a failed run never wins."""
  ok = [k for k, r in runs.items() if r["status"] == OK]
  return max(ok, key=lambda k: runs[k]["select_score"]) if ok else None


def _percent(values: Mapping[str, float]) -> dict[str, float]:
  return {lang: 100.0 * v for lang, v in values.items()}


def _scores(per_language: Mapping[str, float]) -> dict[str, Any]:
  return {"languages": dict(per_language),
          "average": sum(per_language.values()) / len(per_language)}


@dataclasses.dataclass
class _Training:
  """One fine-tuning and the tasks evaluated from it."""
  name: str
  kind: str  # CLASSIFICATION, TAGGING or "qa"
  tasks: list[str]
  preset: presets_lib.TrainingPreset
  rates: tuple[float, ...] = ()
  eval_splits: tuple[str, ...] = ("dev",)


class Suite:
  """Runs a SuiteConfig; `run()` returns the summary (results.json)."""

  def __init__(self, config: SuiteConfig):
    self.config = config
    self.summary: dict[str, Any] = {
        "model": config.model_name, "preset": config.preset.name,
        "preset_description": config.preset.description,
        "layout": config.layout.name, "data_dir": config.data_dir,
        "init_checkpoint": config.init_checkpoint,
        "config_file": config.config_file,
        "tasks_requested": list(config.tasks), "tasks": {}, "trainings": {}}
    self._durations: dict[str, list[float]] = {}

  # -- Planning ------------------------------------------------------------

  def _fail_task(self, task: str, error: str) -> None:
    logging.error("xtreme: %s failed: %s", task, error)
    self.summary["tasks"][task] = {"status": FAILED, "error": error}

  def _plan(self) -> list[_Training]:
    """The trainings of the requested tasks whose data is there."""
    config, trainings = self.config, {}
    unknown = [t for t in config.tasks if t not in layout_lib.TASKS]
    if unknown:
      raise TaskError(f"--tasks: unknown {unknown}; use some of "
                      f"{','.join(layout_lib.TASKS)}")
    for task in layout_lib.TASKS:
      if task not in config.tasks:
        continue
      spec = config.layout.tasks.get(task)
      try:
        if spec is None:
          raise TaskError(f"layout {config.layout.name} has no {task}")
        preset = config.preset.trainings.get(spec.training)
        if preset is None:
          raise TaskError(f"preset {config.preset.name} has no setting for "
                          f"{spec.training}")
        if isinstance(spec, layout_lib.QaTask):
          layout_lib.check_qa(spec, config.data_dir)
          kind = "qa"
        else:
          layout_lib.check_prepared(spec, config.data_dir)
          kind = spec.kind
        rates = preset.rates()
      except Exception as e:  # pylint: disable=broad-except
        self._fail_task(task, str(e))
        continue
      training = trainings.setdefault(
          spec.training, _Training(spec.training, kind, [], preset, rates))
      training.tasks.append(task)
      self.summary["tasks"][task] = {"status": PENDING,
                                     "training": spec.training}
    return list(trainings.values())

  # -- One run -------------------------------------------------------------

  def _base_values(self, run_dir: str, rate: float) -> dict[str, Any]:
    config = self.config
    values = {"config_file": config.config_file, "model_dir": run_dir,
              "learning_rate": rate, "init_checkpoint": config.init_checkpoint,
              "do_export": False}
    values.update(config.overrides)
    return values

  def _prepare(self, training: _Training) -> str:
    """The TSV task's prepared directory, made once for every rate."""
    config = self.config
    spec = config.layout.tasks[training.tasks[0]]
    labelled = layout_lib.prepared_test_labelled(spec, config.data_dir)
    training.eval_splits = ("dev", "test") if labelled else ("dev",)
    prep_dir = os.path.join(config.output_dir, spec.task, DATA_DIR)
    if os.path.exists(os.path.join(prep_dir, file_io.METADATA_FILE)):
      return prep_dir
    params = presets_lib.params_from_flagfile(
        classifier_run.ClassifierParams, training.preset.flagfile,
        ignore=("eval_splits",), data_dir=prep_dir, config_file="unused",
        model_dir="unused")
    create = (classifier_features.create_classifier_data
              if spec.kind == layout_lib.CLASSIFICATION
              else tagging_features.create_tagging_data)
    logging.info("xtreme: preparing %s (%s, max_seq_length %d) in %s",
                 spec.task, "+".join(training.eval_splits),
                 params.max_seq_length, prep_dir)
    create(spec.task, os.path.join(config.data_dir, spec.directory),
           config.sp_model_file, prep_dir,
           max_seq_length=params.max_seq_length,
           languages=spec.languages, labels=spec.labels,
           eval_splits=training.eval_splits)
    return prep_dir

  def _run_prepared(self, training: _Training, rate: float, run_dir: str,
                    prep_dir: str) -> dict[str, Any]:
    """run_classifier / run_tagging on the prepared data; the scores."""
    task = training.tasks[0]
    if training.kind == layout_lib.CLASSIFICATION:
      params_class, run, metric = (classifier_run.ClassifierParams,
                                   classifier_run.run_classifier, "accuracy")
    else:
      params_class, run, metric = (tagging_run.TaggingParams,
                                   tagging_run.run_tagging, "f1")
    params = presets_lib.params_from_flagfile(
        params_class, training.preset.flagfile, ignore=("eval_splits",),
        data_dir=prep_dir, eval_splits=training.eval_splits,
        **self._base_values(run_dir, rate))
    results = run(params)
    split = training.eval_splits[-1]
    dev = results["eval"]["dev"][metric]
    if "en" not in dev:
      raise TaskError(f"{task}: no English dev set to choose the rate on")
    return {"select_score": 100.0 * dev["en"], "steps": results["step"],
            "results_files": {task: os.path.join(run_dir,
                                                  prepared_lib.RESULTS_FILE)},
            "tasks": {task: {"split": split, "scores": {metric: _scores(
                _percent(results["eval"][split][metric]))}}}}

  def _qa_eval(self, run_dir: str, name: str, values: Mapping[str, Any],
               flagfile: str) -> dict[str, Any]:
    """One evaluation of the trained QA model (kept as <name>_results.json)."""
    path = os.path.join(run_dir, f"{name}_results.json")
    if os.path.exists(path):
      return file_io.read_json(path)
    params = presets_lib.params_from_flagfile(
        squad_run.SquadParams, flagfile, do_train=False, do_eval=True,
        do_export=False, **values)
    results = squad_run.run_squad(params)
    predictions = os.path.join(run_dir, squad_run.PREDICTIONS_DIR)
    kept = f"{predictions}_{name}"
    if os.path.isdir(predictions):
      shutil.rmtree(kept, ignore_errors=True)
      os.rename(predictions, kept)
    file_io.write_json(path, results)
    return results

  def _run_qa(self, training: _Training, rate: float,
              run_dir: str) -> dict[str, Any]:
    """Fine-tunes once, then scores the selection file and each task."""
    config = self.config
    specs = {t: config.layout.tasks[t] for t in training.tasks}
    first = specs[training.tasks[0]]
    features = os.path.join(config.output_dir, training.name, FEATURES_DIR)
    base = {**self._base_values(run_dir, rate),
            "sp_model_file": config.sp_model_file}
    export = base.pop("do_export")
    train_params = presets_lib.params_from_flagfile(
        squad_run.SquadParams, training.preset.flagfile, do_train=True,
        do_eval=False, do_export=export,
        train_file=os.path.join(config.data_dir, first.train_file),
        features_dir=os.path.join(features, "train"), **base)
    trained = squad_run.run_squad(train_params)
    record: dict[str, Any] = {"steps": trained["step"], "tasks": {},
                              "results_files": {}}
    for task, spec in specs.items():
      split, pattern = layout_lib.qa_report(spec, config.data_dir)
      results = self._qa_eval(run_dir, task, {
          **base, "predict_file": pattern,
          "predict_languages": tuple(spec.languages),
          "eval_normalization": spec.normalization,
          "features_dir": os.path.join(features, f"{task}_{split}")},
                              training.preset.flagfile)
      languages = results["eval"]["languages"]
      record["results_files"][task] = os.path.join(run_dir,
                                                   f"{task}_results.json")
      record["tasks"][task] = {"split": split, "scores": {
          m: _scores({l: r[m] for l, r in languages.items()})
          for m in ("exact_match", "f1")}}
      if spec.select_file is None:
        if split != "dev" or "en" not in languages:
          raise TaskError(f"{task}: no English dev set to choose the rate on")
        record["select_score"] = languages["en"]["f1"]
    if first.select_file is not None:
      results = self._qa_eval(run_dir, SELECT_EVAL, {
          **base, "predict_file": os.path.join(config.data_dir,
                                               first.select_file),
          "predict_languages": ("en",), "eval_normalization": "squad",
          "features_dir": os.path.join(features, SELECT_EVAL)},
                              training.preset.flagfile)
      record["select_score"] = results["eval"]["languages"]["en"]["f1"]
      record["results_files"][SELECT_EVAL] = os.path.join(
          run_dir, f"{SELECT_EVAL}_results.json")
    return record

  # -- The loop ------------------------------------------------------------

  def _run_dir(self, training: _Training, rate: float, *names: str) -> str:
    return os.path.join(self.config.output_dir, training.name,
                        f"lr_{rate_key(rate)}", *names)

  def _eta(self, remaining: Sequence[_Training]) -> str:
    """The remaining runs' time from the mean of finished runs (of the same
    training where there is one)."""
    done = [s for d in self._durations.values() for s in d]
    if not done:
      return "ETA unknown"
    overall = sum(done) / len(done)
    seconds = 0.0
    for training in remaining:
      own = self._durations.get(training.name)
      seconds += sum(own) / len(own) if own else overall
    return f"ETA {seconds / 60:.0f} min"

  def _select(self, training: _Training) -> None:
    """The best English dev run of a training gives its tasks' scores."""
    runs = self.summary["trainings"][training.name]["runs"]
    finished = [k for k, r in runs.items() if r["status"] in (OK, FAILED)]
    ok = {k: r for k, r in runs.items() if r["status"] == OK}
    complete = len(finished) == len(training.rates)
    selected = select_rate(runs)
    entry = self.summary["trainings"][training.name]
    entry["selected"] = selected
    entry["selection"] = (f"best English dev {_SELECT_METRIC[training.kind]} "
                          f"of {len(training.rates)} rate(s)")
    for task in training.tasks:
      if selected is None:
        if complete:
          errors = "; ".join(f"lr={k}: {r['error']}" for k, r in runs.items())
          self._fail_task(task, f"every run failed: {errors}")
        continue
      run = ok[selected]
      self.summary["tasks"][task] = {
          "status": OK if complete else PENDING, "training": training.name,
          "learning_rate": float(selected), "run_dir": run["dir"],
          "results_file": run["results_files"][task],
          **run["tasks"][task]}

  def run(self) -> dict[str, Any]:
    config = self.config
    trainings = self._plan()
    plan = [(t, rate) for t in trainings for rate in t.rates]
    for t in trainings:
      self.summary["trainings"][t.name] = {
          "tasks": t.tasks, "kind": t.kind, "flagfile": t.preset.flagfile,
          "learning_rates": [rate_key(r) for r in t.rates], "runs": {}}
    prepared: dict[str, str] = {}
    for index, (training, rate) in enumerate(plan, start=1):
      key = rate_key(rate)
      run_dir = self._run_dir(training, rate)
      runs = self.summary["trainings"][training.name]["runs"]
      finished_file = os.path.join(run_dir, RUN_FILE)
      label = (f"{training.name}" + (f" ({', '.join(training.tasks)})"
                                     if training.kind == "qa" else ""))
      if os.path.exists(finished_file):
        runs[key] = file_io.read_json(finished_file)
        logging.info("xtreme: [%d/%d] %s lr=%s finished before, skipped",
                     index, len(plan), label, key)
      else:
        remaining = [t for t, r in plan[index - 1:]
                     if not os.path.exists(self._run_dir(t, r, RUN_FILE))]
        logging.info("xtreme: [%d/%d] %s lr=%s in %s ... %s for the suite",
                     index, len(plan), label, key, run_dir,
                     self._eta(remaining))
        start = time.time()
        try:
          if training.kind == "qa":
            record = self._run_qa(training, rate, run_dir)
          else:
            if training.name not in prepared:
              prepared[training.name] = self._prepare(training)
            record = self._run_prepared(training, rate, run_dir,
                                        prepared[training.name])
          seconds = time.time() - start
          record.update({"status": OK, "learning_rate": rate, "dir": run_dir,
                         "seconds": seconds})
          file_io.write_json(finished_file, record)
          self._durations.setdefault(training.name, []).append(seconds)
          logging.info("xtreme: %s lr=%s done in %.0f s: English dev %.2f",
                       label, key, seconds, record["select_score"])
        except Exception as e:  # pylint: disable=broad-except
          logging.exception("xtreme: %s lr=%s failed", label, key)
          record = {"status": FAILED, "learning_rate": rate, "dir": run_dir,
                    "error": f"{type(e).__name__}: {e}"}
        runs[key] = record
      self._select(training)
      write_outputs(config, self.summary)
    for task in config.tasks:
      self.summary["tasks"].setdefault(task, {"status": FAILED,
                                              "error": "not run"})
    return write_outputs(config, self.summary)


def all_succeeded(summary: Mapping[str, Any]) -> bool:
  """Every requested task scored and no run failed."""
  tasks_ok = all(summary["tasks"].get(t, {}).get("status") == OK
                 for t in summary["tasks_requested"])
  runs_ok = all(r["status"] == OK for t in summary["trainings"].values()
                for r in t["runs"].values())
  return tasks_ok and runs_ok


def run_suite(config: SuiteConfig) -> dict[str, Any]:
  return Suite(config).run()


def _names(task: str) -> str:
  return dict(table.COLUMNS)[task].rsplit(" ", 1)[0]


def report(summary: Mapping[str, Any], markdown: bool = False) -> str:
  """The row, each task's languages, every sweep and every failure."""
  row = table.paper_row(summary["tasks"])
  heading = "## " if markdown else ""
  parts = [f"{heading}XTREME, preset {summary['preset']} "
           f"({summary['preset_description']}); x100, each task's test set "
           "where labelled, else dev; Avg_task over tasks, Avg over Table 7's "
           "categories (QA as the mean of EM and F1)", "",
           table.row_table(summary["model"], row, markdown), ""]
  for task, _ in table.COLUMNS:
    result = summary["tasks"].get(task)
    if result is None:
      continue
    title = f"{heading}{_names(task)} ({task})"
    if result["status"] in (OK, PENDING) and "scores" in result:
      parts += [f"{title}: lr {rate_key(result['learning_rate'])}, "
                f"{result['split']}" + (" (sweep unfinished)" if
                                        result["status"] == PENDING else ""),
                "", table.language_table(task, result, markdown), ""]
    elif result["status"] == FAILED:
      parts += [f"{title}: failed: {result['error']}", ""]
  for name, training in summary["trainings"].items():
    if training["runs"]:
      parts += [f"{heading}Sweep: {name} ({training.get('selection', '')})",
                "", table.sweep_table(name, training["runs"],
                                      training.get("selected"), markdown), ""]
  return "\n".join(parts)


def write_outputs(config: SuiteConfig,
                  summary: Mapping[str, Any]) -> dict[str, Any]:
  """results.json, results.md and results.txt, each replaced atomically;
  returns what results.json holds (the summary, its row and success)."""
  summary = dict(summary)
  summary["row"] = table.paper_row(summary["tasks"])
  summary["succeeded"] = all_succeeded(summary)
  os.makedirs(config.output_dir, exist_ok=True)
  file_io.write_json(os.path.join(config.output_dir, RESULTS_FILE), summary)
  file_io.write_text(os.path.join(config.output_dir, MARKDOWN_FILE),
                     report(summary, markdown=True))
  file_io.write_text(os.path.join(config.output_dir, TEXT_FILE),
                     report(summary))
  return summary
