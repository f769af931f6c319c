r"""The paper's XTREME row for a pre-trained model, in one command.

  python -m rembert_tf.xtreme --init_checkpoint=gs://b/rembert/ckpt-N \
      --config_file=rembert --sp_model_file=rembert/sentencepiece.model \
      --data_dir=download/ --output_dir=out/xtreme --preset=table15 \
      [--tasks=xnli,pawsx,udpos,panx,xquad,mlqa,tydiqa] [--tpu=NAME]

--output_dir must be local: the suite checks for finished runs and moves QA
predictions with local file operations.

--preset=table10 sweeps Table 10's learning rates and keeps the best on
English dev; table15 runs RemBERT's single setting per task (Table 15);
demo runs the demo's tiny model (`python -m rembert_tf.demo` first) on its
embedded data, and without other flags reads everything from out/demo.
Running the same command again skips finished runs and resumes interrupted
ones. Prints Table 16's row (and Table 7's category averages), every task's
languages and sweep; writes results.json, results.md and results.txt under
--output_dir. Exit status 0 only if every task and run succeeded.
"""

import os
import sys
from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from rembert_tf import file_io
from rembert_tf.tasks.errors import TaskError
from rembert_tf.xtreme import layout as layout_lib
from rembert_tf.xtreme import presets as presets_lib
from rembert_tf.xtreme import suite as suite_lib

flags.DEFINE_string("init_checkpoint", None,
                    "Pre-training checkpoint or encoder export to fine-tune.")
flags.DEFINE_string("config_file", None,
                    "config.json path or shipped config name of the model.")
flags.DEFINE_string("sp_model_file", None, "The model's SentencePiece model.")
flags.DEFINE_string("data_dir", None,
                    "XTREME's download/ directory (see the README's layout).")
flags.DEFINE_string("output_dir", None,
                    "Runs, prepared data and the results (created; local).")
flags.DEFINE_list("tasks", list(layout_lib.TASKS), "Tasks to run.")
flags.DEFINE_enum("preset", "table10", sorted(presets_lib.PRESETS),
                  "table10: Table 10's grids, chosen on English dev; "
                  "table15: Table 15's settings; demo: the demo's model.")
flags.DEFINE_enum("layout", None, sorted(layout_lib.LAYOUTS),
                  "File layout under --data_dir; default demo for "
                  "--preset=demo, else xtreme.")
flags.DEFINE_string("tpu", None, "TPU name or address, for every run.")
flags.DEFINE_string("distribution_strategy", None,
                    "Overrides the runs' strategy (default: auto).")
flags.DEFINE_bool("do_export", False, "Write every run's SavedModel.")
flags.DEFINE_string("model_name", None,
                    "The row's label (default the checkpoint's folder).")

# The demo's outputs (`python -m rembert_tf.demo`), for --preset=demo.
DEMO_WORK_DIR = "out/demo"


def _demo_defaults(values: flags.FlagValues) -> None:
  """Fills unset flags from the demo's work directory."""
  work = os.path.join(presets_lib.REPO_ROOT, DEMO_WORK_DIR)
  metrics = os.path.join(work, "pretraining", "metrics.json")
  if values.init_checkpoint is None:
    if not os.path.exists(metrics):
      raise TaskError(f"{metrics} not found: run `python -m rembert_tf.demo` "
                      "first (it pre-trains the demo's model), or pass "
                      "--init_checkpoint")
    values.init_checkpoint = file_io.read_json(metrics)["encoder_checkpoint"]
  defaults = {"config_file": os.path.join(work, "rembert_tiny.json"),
              "sp_model_file": os.path.join(work, "spm", "demo_spm.model"),
              "data_dir": os.path.join(work, "corpus"),
              "output_dir": os.path.join(work, "xtreme"),
              "model_name": "demo model"}
  for name, value in defaults.items():
    if values[name].value is None:
      values[name].value = value


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  values = flags.FLAGS
  try:
    if values.preset == "demo":
      _demo_defaults(values)
    missing = [n for n in ("config_file", "sp_model_file", "data_dir",
                           "output_dir") if values[n].value is None]
    if missing:
      raise TaskError(f"missing flags: {', '.join('--' + n for n in missing)}")
    overrides = {"do_export": values.do_export}
    for name in ("tpu", "distribution_strategy"):
      if values[name].value is not None:
        overrides[name] = values[name].value
    layout = values.layout or ("demo" if values.preset == "demo" else
                               "xtreme")
    model_name = values.model_name or (
        os.path.basename(os.path.dirname(values.init_checkpoint.rstrip("/")))
        if values.init_checkpoint else "model")
    summary = suite_lib.run_suite(suite_lib.SuiteConfig(
        config_file=values.config_file, sp_model_file=values.sp_model_file,
        data_dir=values.data_dir, output_dir=values.output_dir,
        preset=presets_lib.PRESETS[values.preset],
        layout=layout_lib.LAYOUTS[layout],
        init_checkpoint=values.init_checkpoint, tasks=tuple(values.tasks),
        overrides=overrides, model_name=model_name))
  except TaskError as e:
    print(f"rembert_tf.xtreme: error: {e}", file=sys.stderr)
    sys.exit(2)
  print(suite_lib.report(summary))
  print(f"(written: {os.path.join(values.output_dir, suite_lib.RESULTS_FILE)}"
        f", {suite_lib.MARKDOWN_FILE}, {suite_lib.TEXT_FILE})")
  sys.exit(0 if suite_lib.all_succeeded(summary) else 1)


if __name__ == "__main__":
  app.run(main)
