"""The XTREME suite end to end on the tiny model: XNLI (a two-rate sweep) and
NER, plus PAWS-X with its data missing."""

import json
import os

import pytest

from rembert_tf.tasks.classification import run as classifier_run
from rembert_tf.tasks.tagging import run as tagging_run
from rembert_tf.xtreme import layout
from rembert_tf.xtreme import presets
from rembert_tf.xtreme import suite
from rembert_tf.xtreme import table
from tests.tasks.conftest import LANGUAGES
from tests.tasks.conftest import NER_LABELS

RATES = (1e-3, 3e-3)
_TINY = ("--max_seq_length=32\n--train_batch_size=8\n--eval_batch_size=8\n"
         "--num_train_epochs=1\n--distribution_strategy=one_device\n"
         "--keep_checkpoint_max=1\n")


def _read(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


@pytest.fixture(scope="module")
def xtreme(task_fixture, tagging_task, tmp_path_factory):
  """The suite's config on a download/ of the fixtures' xnli and panx (no
  pawsx), and its first run's summary."""
  root = str(tmp_path_factory.mktemp("xtreme"))
  data_dir = os.path.join(root, "download")
  os.makedirs(data_dir)
  os.symlink(os.path.join(task_fixture.corpus, "xnli"),
             os.path.join(data_dir, "xnli"))
  os.symlink(os.path.join(tagging_task.corpus, "panx"),
             os.path.join(data_dir, "panx"))
  flagfiles = {}
  for name, extra in (("xnli", "--steps_per_loop=3\n"
                               "--save_checkpoints_steps=3\n"),
                      ("panx", "--learning_rate=3e-3\n--steps_per_loop=10\n"
                               "--save_checkpoints_steps=10\n")):
    flagfiles[name] = os.path.join(root, f"{name}_tiny.flags")
    with open(flagfiles[name], "w", encoding="utf-8") as f:
      f.write("# the tests' tiny settings\n" + _TINY + extra)
  preset = presets.Preset("test", "tiny: two rates for XNLI", {
      "xnli": presets.TrainingPreset(flagfiles["xnli"], RATES),
      "pawsx": presets.TrainingPreset(flagfiles["xnli"], RATES),
      "panx": presets.TrainingPreset(flagfiles["panx"])})
  test_layout = layout.Layout("test", {
      "xnli": layout.PreparedTask("xnli", layout.CLASSIFICATION, "xnli",
                                  LANGUAGES),
      "pawsx": layout.PreparedTask("pawsx", layout.CLASSIFICATION, "pawsx",
                                   LANGUAGES),
      "panx": layout.PreparedTask("panx", layout.TAGGING, "panx", LANGUAGES,
                                  NER_LABELS)})
  config = suite.SuiteConfig(
      config_file=task_fixture.config_file,
      sp_model_file=task_fixture.sp_model, data_dir=data_dir,
      output_dir=os.path.join(root, "out"), preset=preset, layout=test_layout,
      init_checkpoint=task_fixture.encoder_checkpoint,
      tasks=("xnli", "panx", "pawsx"), model_name="tiny")
  return config, suite.run_suite(config)


def test_table_holds_the_selected_runs_results(xtreme):
  config, summary = xtreme
  runs = summary["trainings"]["xnli"]["runs"]
  assert sorted(runs) == ["0.001", "0.003"]
  # Each run's English dev accuracy, from its own results file.
  dev = {key: 100 * _read(os.path.join(run["dir"], "eval_results.json"))[
      "eval"]["dev"]["accuracy"]["en"] for key, run in runs.items()}
  assert {k: r["select_score"] for k, r in runs.items()} == pytest.approx(dev)
  selected = max(dev, key=dev.get)
  assert summary["trainings"]["xnli"]["selected"] == selected
  xnli = summary["tasks"]["xnli"]
  assert xnli["status"] == "ok" and xnli["learning_rate"] == float(selected)
  assert xnli["split"] == "test"  # The fixture's test files are labelled.
  chosen = _read(os.path.join(runs[selected]["dir"], "eval_results.json"))
  row = summary["row"]
  assert row["cells"]["xnli"]["accuracy"] == pytest.approx(
      100 * chosen["eval"]["test"]["average"])
  assert xnli["scores"]["accuracy"]["languages"] == pytest.approx(
      {l: 100 * a for l, a in chosen["eval"]["test"]["accuracy"].items()})
  ner = _read(summary["tasks"]["panx"]["results_file"])
  assert row["cells"]["panx"]["f1"] == pytest.approx(
      100 * ner["eval"]["test"]["average"])
  # The files say the same, and the printed table shows those numbers.
  assert _read(os.path.join(config.output_dir, suite.RESULTS_FILE))[
      "row"] == json.loads(json.dumps(row))
  text = suite.report(summary)
  cells = dict(zip(*table.row_cells(table.paper_row(summary["tasks"]))))
  assert cells["XNLI Acc"] == f"{100 * chosen['eval']['test']['average']:.1f}"
  assert cells["NER F1"] == f"{100 * ner['eval']['test']['average']:.1f}"
  # tiny, XNLI, POS (missing), NER, PAWS-X (failed), the QA tasks (missing).
  assert (f"tiny {cells['XNLI Acc']} - {cells['NER F1']} - -/- -/- -/- - - - "
          "- -") in " ".join(text.split())
  with open(os.path.join(config.output_dir, suite.MARKDOWN_FILE)) as f:
    assert f"| tiny | {cells['XNLI Acc']} | - | {cells['NER F1']} |" in f.read()


def test_missing_and_failed_tasks_are_reported_not_zero(xtreme):
  _, summary = xtreme
  pawsx = summary["tasks"]["pawsx"]
  assert pawsx["status"] == "failed" and "pawsx" in pawsx["error"]
  assert "pawsx" not in summary["trainings"]  # Nothing ran for it.
  row = summary["row"]
  for task in ("udpos", "pawsx", "xquad", "mlqa", "tydiqa"):
    assert row["cells"][task] is None
  assert row["avg_task"] is None and row["avg"] is None
  assert not suite.all_succeeded(summary) and not summary["succeeded"]
  assert "PAWS-X (pawsx): failed" in suite.report(summary)


def test_second_invocation_skips_finished_runs_and_resumes(xtreme,
                                                           monkeypatch):
  config, first = xtreme
  calls = []

  def counting(run):
    def wrapper(params):
      calls.append(params.model_dir)
      return run(params)
    return wrapper

  monkeypatch.setattr(classifier_run, "run_classifier",
                      counting(classifier_run.run_classifier))
  monkeypatch.setattr(tagging_run, "run_tagging",
                      counting(tagging_run.run_tagging))
  # One run "interrupted" after its last checkpoint, before its record.
  interrupted = first["trainings"]["xnli"]["runs"]["0.003"]["dir"]
  os.remove(os.path.join(interrupted, suite.RUN_FILE))
  second = suite.run_suite(config)
  assert calls == [interrupted]  # The finished runs were not run again.
  resumed = _read(os.path.join(interrupted, "eval_results.json"))
  assert resumed["train"] == {}  # Resumed at its last step: nothing left.
  assert second["row"] == first["row"]  # The same checkpoint, re-scored.
  assert second["trainings"]["xnli"]["selected"] == first["trainings"][
      "xnli"]["selected"]
