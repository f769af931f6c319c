"""The suite's arithmetic, presets and layouts, without training anything."""

import json
import os
import subprocess
import sys

import pytest

from rembert_tf.data import demo_corpus
from rembert_tf.tasks.classification import run as classifier_run
from rembert_tf.tasks.squad import run as squad_run
from rembert_tf.tasks.tagging import run as tagging_run
from rembert_tf.xtreme import layout
from rembert_tf.xtreme import presets
from rembert_tf.xtreme import suite
from rembert_tf.xtreme import table

# Table 16's RemBERT row: XNLI, POS, NER, PAWS-X, then EM/F1 of each QA task.
REMBERT = {"xnli": 80.8, "udpos": 76.5, "panx": 70.1, "pawsx": 87.5,
           "xquad": (64.0, 79.6), "mlqa": (55.0, 73.1), "tydiqa": (63.0, 77.0)}


def _result(task, value):
  values = value if isinstance(value, tuple) else (value,)
  return {"status": "ok", "split": "test", "scores": {
      m: {"languages": {"en": v}, "average": v}
      for m, v in zip(table.METRICS[task], values)}}


def test_averages_reproduce_the_papers_rembert_row():
  row = table.paper_row({t: _result(t, v) for t, v in REMBERT.items()})
  assert round(row["avg_task"], 1) == 74.4  # Table 16.
  assert [round(v, 1) for v in row["categories"].values()] == [
      84.2, 73.3, 68.6]  # Table 7.
  assert round(row["avg"], 1) == 75.4
  text = table.row_table("RemBERT", row)
  assert "64.0/79.6" in text and "74.4" in text and "75.4" in text


def test_missing_tasks_are_missing_not_zero():
  tasks = {t: _result(t, v) for t, v in REMBERT.items() if t != "mlqa"}
  tasks["udpos"] = {"status": "failed", "error": "no data"}
  row = table.paper_row(tasks)
  assert row["cells"]["mlqa"] is None and row["cells"]["udpos"] is None
  assert row["avg_task"] is None and row["avg"] is None
  assert row["categories"]["Classification Acc"] == pytest.approx(84.15)
  headers, values = table.row_cells(row)
  cells = dict(zip(headers, values))
  assert cells["MLQA EM/F1"] == "-/-" and cells["POS F1"] == "-"
  assert cells["Avg"] == "-" and "0.0" not in values
  markdown = table.row_table("m", row, markdown=True)
  assert markdown.splitlines()[0].startswith("| Model | XNLI Acc | POS F1 |")


PARAMS = {"xnli": classifier_run.ClassifierParams,
          "pawsx": classifier_run.ClassifierParams,
          "udpos": tagging_run.TaggingParams, "panx": tagging_run.TaggingParams,
          "squad": squad_run.SquadParams, "tydiqa": squad_run.SquadParams}
# Table 15: (learning rate, batch) per training.
TABLE15 = {"xnli": (1e-5, 128), "pawsx": (8e-6, 128), "udpos": (3e-5, 128),
           "panx": (8e-6, 64), "squad": (9e-6, 128), "tydiqa": (9e-6, 128)}


def _params(training, flagfile):
  """The training's params from the flagfile, required fields filled."""
  required = ({"sp_model_file": "s"} if PARAMS[training] is
              squad_run.SquadParams else {"data_dir": "d"})
  if presets.flagfile_value(flagfile, "config_file") is None:
    required["config_file"] = "c"
  return presets.params_from_flagfile(PARAMS[training], flagfile,
                                      model_dir="m", **required)


@pytest.mark.parametrize("training", sorted(PARAMS))
def test_presets_agree_with_the_flagfiles(training):
  table10 = presets.TABLE10.trainings[training]
  grid = table10.learning_rates
  params = _params(training, table10.flagfile)
  # The flagfile's own rate is its grid's middle; batch 32, 3 epochs.
  assert params.learning_rate == grid[len(grid) // 2]
  assert (params.train_batch_size, params.num_train_epochs) == (32, 3.0)
  table15 = presets.TABLE15.trainings[training]
  params = _params(training, table15.flagfile)
  assert table15.rates() == (TABLE15[training][0],)
  assert params.train_batch_size == TABLE15[training][1]
  demo = presets.DEMO.trainings[training]
  assert len(demo.rates()) == 1
  _params(training, demo.flagfile)


def test_unknown_flag_in_a_flagfile_is_refused(tmp_path):
  path = tmp_path / "bad.flags"
  path.write_text("# comment\n--learning_rate=1e-3\n--no_such_flag=1\n")
  with pytest.raises(ValueError, match="--no_such_flag is not a flag"):
    presets.params_from_flagfile(classifier_run.ClassifierParams, str(path),
                                 model_dir="m", config_file="c", data_dir="d")


def test_demo_layout_finds_every_task_in_the_embedded_corpus(tmp_path):
  root = str(tmp_path)
  demo_corpus.write_finetuning_sets(root, seed=0, num_train=4, num_eval=2)
  demo_corpus.write_tagging_sets(root, seed=0, num_train=4, num_eval=2)
  for task in layout.TASKS:
    spec = layout.DEMO.tasks[task]
    if isinstance(spec, layout.QaTask):
      layout.check_qa(spec, root)
      split, pattern = layout.qa_report(spec, root)
      assert split == ("dev" if task == "tydiqa" else "test")
      assert os.path.isfile(pattern.replace("{lang}", "zh"))
    else:
      layout.check_prepared(spec, root)
      assert layout.prepared_test_labelled(spec, root)
  # XTREME's leaderboard copies: test files without the label column.
  with open(os.path.join(root, "xnli", "test-en.tsv"), "w") as f:
    f.write("a premise\ta hypothesis\n")
  assert not layout.prepared_test_labelled(layout.DEMO.tasks["xnli"], root)
  os.remove(os.path.join(root, "pawsx", "dev-de.tsv"))
  with pytest.raises(Exception, match="dev-de.tsv"):
    layout.check_prepared(layout.DEMO.tasks["pawsx"], root)


def test_rate_is_chosen_on_english_dev():
  runs = {"1e-05": {"status": "ok", "select_score": 70.0},
          "2e-05": {"status": "ok", "select_score": 72.5},
          "3e-05": {"status": "failed", "error": "out of memory"}}
  assert suite.select_rate(runs) == "2e-05"
  runs["1e-05"]["select_score"] = 72.5  # A tie: the first of the grid.
  assert suite.select_rate(runs) == "1e-05"
  assert suite.select_rate({"1e-05": runs["3e-05"]}) is None


def test_cli_prints_the_row_and_fails_without_data(repo_root, tmp_path):
  """Both tasks' files are missing: each is reported, the row shows them as
  missing, results.json says so, and the exit status is 1."""
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, "-m", "rembert_tf.xtreme", "--config_file=rembert",
       "--sp_model_file=none.model", f"--data_dir={tmp_path / 'download'}",
       f"--output_dir={out}", "--tasks=xnli,tydiqa"],
      cwd=repo_root, capture_output=True, text=True, check=False,
      env={**os.environ, "TF_USE_LEGACY_KERAS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert result.returncode == 1, result.stderr
  assert "XNLI (xnli): failed" in result.stdout
  assert "TyDi-GoldP (tydiqa): failed" in result.stdout
  with open(out / suite.RESULTS_FILE, encoding="utf-8") as f:
    summary = json.load(f)
  assert summary["tasks"]["xnli"]["status"] == "failed"
  assert summary["row"]["cells"]["xnli"] is None
  assert not summary["succeeded"]
