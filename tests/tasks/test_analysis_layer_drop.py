"""Figure 1's tool: one classifier run per k removed, reused, plotted."""

import dataclasses
import os

import pytest

from rembert_tf import file_io
from rembert_tf.analysis import layer_drop
from rembert_tf.analysis import report
from rembert_tf.tasks.classification import run as classifier_run
from tests.tasks.conftest import LANGUAGES


@pytest.fixture(scope="module")
def drop_run(task_fixture, tmp_path_factory):
  output_dir = str(tmp_path_factory.mktemp("layer_drop"))
  checkpoints = [report.Checkpoint("tiny 3 layers",
                                   task_fixture.encoder_checkpoint,
                                   task_fixture.config_file)]
  template = task_fixture.params(output_dir)
  summary = layer_drop.layer_drop(checkpoints, template, [2, 0], output_dir)
  return output_dir, checkpoints, template, summary


def test_json_is_each_runs_eval_results(drop_run):
  output_dir, _, _, summary = drop_run
  assert file_io.read_json(
      os.path.join(output_dir, layer_drop.RESULTS_FILE)) == summary
  (checkpoint,) = summary["checkpoints"]
  assert [(r["layers_removed"], r["layers_kept"]) for r in checkpoint["runs"]
          ] == [(0, 3), (2, 1)]
  plotted = {p["title"]: p["series"][0] for p in summary["plot"]["panels"]}
  assert list(plotted) == ["average", *sorted(LANGUAGES)]
  for run in checkpoint["runs"]:
    on_disk = file_io.read_json(os.path.join(run["model_dir"],
                                             classifier_run.RESULTS_FILE))
    assert run["results"] == on_disk
    assert on_disk["parameters"]["layers"] == run["layers_kept"]
    dev = on_disk["eval"]["dev"]
    for panel, series in plotted.items():
      assert series["label"] == "tiny 3 layers"
      assert series["x"] == [1, 3]
      assert series["y"][series["x"].index(run["layers_kept"])] == (
          dev["average"] if panel == "average" else dev["accuracy"][panel])
  assert summary["plot"]["panels"][0]["chance"] == pytest.approx(1 / 3)
  with open(os.path.join(output_dir, layer_drop.PLOT_FILE), "rb") as f:
    assert f.read(4) == b"\x89PNG"


def test_finished_runs_are_reused_and_others_refused(drop_run, monkeypatch):
  output_dir, checkpoints, template, summary = drop_run

  def fail(params):
    raise AssertionError(f"ran {params.model_dir} again")
  monkeypatch.setattr(classifier_run, "run_classifier", fail)
  assert layer_drop.layer_drop(checkpoints, template, [0, 2],
                               output_dir) == summary
  with pytest.raises(report.AnalysisError,
                     match=r"keep_3 holds a run of other settings "
                     r"\(learning_rate 0.001 there, 0.002 now\)"):
    layer_drop.fine_tune(checkpoints,
                         dataclasses.replace(template, learning_rate=2e-3),
                         [0], os.path.join(output_dir, layer_drop.RUNS_DIR))


def test_k_beyond_the_depth_is_refused(drop_run):
  output_dir, checkpoints, template, _ = drop_run
  with pytest.raises(report.AnalysisError,
                     match=r"\[3\] cannot be removed from the 3 layers"):
    layer_drop.fine_tune(checkpoints, template, [0, 3], output_dir)
