r"""Zero-shot accuracy with the last layers removed: the paper's Figure 1.

  python -m rembert_tf.analysis.layer_drop --flagfile=flags/xnli_demo.flags \
      --data_dir=out/demo/xnli_data --init_checkpoint=runs/eout128 \
      --init_checkpoint=runs/eout768 --labels="Eout 128,Eout 768" \
      --layers_removed=0,1,2,3,4 --output_dir=out/layer_drop

For each checkpoint and each k of --layers_removed, this fine-tunes the
sentence-pair classifier on the bottom L - k pre-trained layers and evaluates
every language zero-shot. It is `run_classifier` with `num_layers_to_keep`:
the last k layers are left out of the model, not re-initialised (section
6.2). Each (checkpoint, k) run has its own model_dir under
--output_dir/runs/. A finished run is reused, a killed one resumes, and a
directory of other settings is refused. Then it plots the accuracy of each
language and their average against the number of layers kept, one line per
checkpoint. layer_drop.png has layer_drop.json beside it: every run's results
and every plotted number.

The fine-tuning flags are run_classifier.py's (so --flagfile presets work)
except those this tool sets per run: --model_dir, --init_checkpoint,
--config_file, --num_layers_to_keep, and --do_train, --do_eval, --do_export
(it trains and evaluates, and exports no SavedModel).
"""

import dataclasses
import os
import re
from typing import Any, Sequence

from absl import app
from absl import flags

from rembert_tf import file_io
from rembert_tf.analysis import report
from rembert_tf.configs import load_config
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import run as classifier_run
from rembert_tf.training import common_flags

RESULTS_FILE = "layer_drop.json"
PLOT_FILE = "layer_drop.png"
RUNS_DIR = "runs"
# ClassifierParams fields set per run, not by flags.
PER_RUN = {"model_dir": None, "init_checkpoint": None, "config_file": None,
           "num_layers_to_keep": None, "do_train": True, "do_eval": True,
           "do_export": False}


def _slug(label: str) -> str:
  """A directory name for a legend label."""
  return re.sub(r"[^\w.-]+", "_", label).strip("_") or "checkpoint"


def fine_tune(checkpoints: Sequence[report.Checkpoint],
              template: classifier_run.ClassifierParams,
              layers_removed: Sequence[int], runs_dir: str
              ) -> list[dict[str, Any]]:
  """Fine-tunes (or reuses) one classifier per checkpoint and k removed.

  `template` holds the fine-tuning settings; its PER_RUN fields are set for
  each run. Returns per checkpoint its label, paths, depth and runs (the
  layers removed and kept, the model_dir and its `eval_results.json`).

  Raises:
    AnalysisError: k outside [0, L) for a checkpoint of L layers, two labels
      with one directory name, or a run directory of other settings.
  """
  slugs = [_slug(c.label) for c in checkpoints]
  if len(set(slugs)) != len(slugs):
    raise report.AnalysisError(f"--labels: {[c.label for c in checkpoints]} "
                               f"give clashing run directories {slugs}")
  results = []
  for checkpoint, slug in zip(checkpoints, slugs):
    depth = load_config(checkpoint.config_file).num_hidden_layers
    bad = [k for k in layers_removed if not 0 <= k < depth]
    if bad:
      raise report.AnalysisError(
          f"--layers_removed: {bad} cannot be removed from the {depth} "
          f"layers of {checkpoint.label} ({checkpoint.config_file}); use 0 "
          f"to {depth - 1}")
    runs = []
    for k in sorted(set(layers_removed)):
      model_dir = os.path.join(runs_dir, slug, f"keep_{depth - k}")
      params = dataclasses.replace(
          template, **{**PER_RUN, "model_dir": model_dir,
                       "init_checkpoint": checkpoint.path,
                       "config_file": checkpoint.config_file,
                       "num_layers_to_keep": depth - k})
      settings = dataclasses.asdict(params)
      del settings["model_dir"]  # The directory may move.
      runs.append({
          "layers_removed": k, "layers_kept": depth - k,
          "model_dir": model_dir,
          "results": report.run_once(
              model_dir, settings,
              os.path.join(model_dir, classifier_run.RESULTS_FILE),
              lambda p=params: classifier_run.run_classifier(p))})
    results.append({"label": checkpoint.label, "checkpoint": checkpoint.path,
                    "config_file": checkpoint.config_file,
                    "num_layers": depth, "runs": runs})
  return results


def layer_drop(checkpoints: Sequence[report.Checkpoint],
               template: classifier_run.ClassifierParams,
               layers_removed: Sequence[int], output_dir: str
               ) -> dict[str, Any]:
  """`fine_tune`, then the plot and JSON of the template's first split."""
  split = template.eval_splits[0]
  meta = classifier_features.read_metadata(template.data_dir)
  results = fine_tune(checkpoints, template, layers_removed,
                      os.path.join(output_dir, RUNS_DIR))
  languages = list(meta["files"][split])
  panels = []
  for panel in ["average", *languages]:
    series = []
    for checkpoint in results:
      runs = sorted(checkpoint["runs"], key=lambda r: r["layers_kept"])
      scores = [r["results"]["eval"][split] for r in runs]
      series.append(report.Series(
          checkpoint["label"], [r["layers_kept"] for r in runs],
          [s["average"] if panel == "average" else s["accuracy"][panel]
           for s in scores]))
    panels.append(report.Panel(panel, series, chance=1 / len(meta["labels"])))
  plot = report.line_plot(
      os.path.join(output_dir, PLOT_FILE),
      f"Zero-shot {meta['task'].upper()} {split} accuracy with the last layers "
      "removed (fine-tuned on English)", panels,
      "Transformer layers kept (bottom k of L)",
      f"accuracy (fraction of {split} examples, 0-1)")
  summary = {"task": meta["task"], "split": split,
             "data_dir": template.data_dir, "languages": languages,
             "layers_removed": sorted(set(layers_removed)),
             "checkpoints": results, "plot": plot, "png": PLOT_FILE}
  file_io.write_json(os.path.join(output_dir, RESULTS_FILE), summary)
  return summary


def format_table(summary: dict[str, Any]) -> str:
  """Average accuracy per checkpoint (rows) and layers kept (columns)."""
  lines = []
  for checkpoint in summary["checkpoints"]:
    runs = sorted(checkpoint["runs"], key=lambda r: -r["layers_kept"])
    lines.append(f"{checkpoint['label']}: " + ", ".join(
        f"{r['layers_kept']} layers "
        f"{r['results']['eval'][summary['split']]['average']:.3f}"
        for r in runs))
  return (f"zero-shot {summary['task']} {summary['split']} average "
          "accuracy by layers kept:\n" + "\n".join(lines))


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  f = flags.FLAGS

  def run() -> None:
    checkpoints = report.checkpoints_from_flags(f.init_checkpoint, f.labels,
                                                f.config_file)
    template = common_flags.params_from_flags(classifier_run.ClassifierParams,
                                              **PER_RUN)
    summary = layer_drop(checkpoints, template,
                         report.integers("layers_removed", f.layers_removed),
                         f.output_dir)
    print(format_table(summary))
    print(os.path.join(f.output_dir, RESULTS_FILE))
  report.exit_on_user_error("layer_drop", run)


if __name__ == "__main__":
  common_flags.define_flags(classifier_run.ClassifierParams, {
      "data_dir": "Output directory of create_classifier_data.py.",
      "eval_splits": "Splits to evaluate; the first is plotted.",
  }, exclude=tuple(PER_RUN))
  report.define_checkpoint_flags()
  flags.DEFINE_list("layers_removed", ["0", "1", "2", "3", "4"],
                    "k: fine-tune without the last k layers, for each k "
                    "(the paper's Figure 1 removes 0 to 4 of 12).")
  flags.DEFINE_string("output_dir", None, "Runs, the JSON and the PNG.")
  flags.mark_flag_as_required("output_dir")
  # --helpshort lists them as this tool's own.
  flags.adopt_module_key_flags(common_flags)
  flags.adopt_module_key_flags(report)
  app.run(main)
