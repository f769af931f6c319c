"""What the analysis tools share: errors, the checkpoints compared, reused runs
and plots.

Each tool compares checkpoints (the paper's Eout = 128 against Eout = 768, say)
on one plot. So each one takes `--init_checkpoint` (repeated, or a comma list),
`--labels` for the legend and `--config_file`: one for all, one per
checkpoint, or, by default, the `config.json` beside each one. Every plotted
number also goes into the JSON beside the PNG, so a figure can be checked or
redrawn without running anything again. Plots use matplotlib's Agg backend
(no display needed) and are written atomically, like every other output.
"""

import dataclasses
import io
import json
import os
import sys
import textwrap
from typing import Any, Callable, Mapping, Optional, Sequence

from absl import flags
import matplotlib
matplotlib.use("Agg")
# pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import pyplot as plt
from matplotlib import ticker

from rembert_tf import file_io
from rembert_tf.data.errors import DataPrepError
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training import common_flags

SETTINGS_FILE = "analysis_settings.json"
CONFIG_FILE = "config.json"


class AnalysisError(ValueError):
  """Input an analysis cannot use; the message names the file, line or flag."""


# What the tools' command lines report as one line and exit 1.
USER_ERRORS = common_flags.USER_ERRORS + (AnalysisError, DataPrepError,
                                          TaskError)


def exit_on_user_error(tool: str, main: Callable[[], None]) -> None:
  """Runs `main`; an error the user can fix is one line on stderr, exit 1."""
  try:
    main()
  except USER_ERRORS as e:
    print(f"{tool}: error: {e}", file=sys.stderr)
    sys.exit(1)


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """One model compared: its legend label, checkpoint and config."""
  label: str
  path: str  # A prefix, a training model_dir or a pretrained directory.
  config_file: str


def split_values(values: Optional[Sequence[str]]) -> list[str]:
  """Values of a repeated flag, each possibly a comma list, as one list."""
  return [v.strip() for value in values or () for v in value.split(",")
          if v.strip()]


def integers(flag: str, values: Sequence[str]) -> list[int]:
  """A list flag's whole numbers."""
  if not all(v.strip().isdigit() for v in values):
    raise AnalysisError(f"--{flag}={','.join(values)}: give whole numbers, "
                        "e.g. 0,1,2")
  return [int(v) for v in values]


def config_beside(path: str) -> str:
  """The `config.json` of a checkpoint: in its directory (a model_dir or a
  pretrained folder), beside its prefix, or one level up (the encoder export
  `model_dir/encoder/encoder-N`)."""
  candidates = [path] if os.path.isdir(path) else [
      os.path.dirname(path), os.path.dirname(os.path.dirname(path))]
  for candidate in candidates:
    config = os.path.join(candidate, CONFIG_FILE)
    if os.path.isfile(config):
      return config
  raise AnalysisError(f"--init_checkpoint={path}: no {CONFIG_FILE} in "
                      f"{' or '.join(candidates)}; pass --config_file")


def define_checkpoint_flags() -> None:
  """`--init_checkpoint`, `--labels` and `--config_file`, for
  `checkpoints_from_flags`."""
  flags.DEFINE_multi_string(
      "init_checkpoint", None, "Checkpoints to compare (repeat the flag, or a "
      "comma list): a prefix, a pre-training model_dir or a pretrained "
      "folder.")
  flags.DEFINE_list("labels", None, "Legend label of each --init_checkpoint "
                    "(default: the paths).")
  flags.DEFINE_multi_string(
      "config_file", None, "Pre-training config.json of each checkpoint, or "
      "one for all (default: the one beside each checkpoint).")
  flags.mark_flag_as_required("init_checkpoint")


def checkpoints_from_flags(paths: Optional[Sequence[str]],
                           labels: Optional[Sequence[str]],
                           config_files: Optional[Sequence[str]]
                           ) -> list[Checkpoint]:
  """The checkpoints of `--init_checkpoint`, `--labels` and `--config_file`."""
  paths = split_values(paths)
  if not paths:
    raise AnalysisError("--init_checkpoint: pass at least one checkpoint")
  labels = split_values(labels) or paths
  if len(labels) != len(paths) or len(set(labels)) != len(labels):
    raise AnalysisError(
        f"--labels: {len(labels)} label(s) {labels} for {len(paths)} "
        "checkpoint(s); give one distinct label per --init_checkpoint")
  configs = split_values(config_files)
  if len(configs) == 1:
    configs *= len(paths)
  elif not configs:
    configs = [config_beside(p) for p in paths]
  elif len(configs) != len(paths):
    raise AnalysisError(f"--config_file: {len(configs)} files for "
                        f"{len(paths)} checkpoints; give one, or one each")
  return [Checkpoint(*c) for c in zip(labels, paths, configs)]


def record_settings(directory: str, settings: Mapping[str, Any]) -> bool:
  """True if `directory` has recorded these `settings` before; otherwise
  records them there and returns False.

  Raises:
    AnalysisError: `directory` recorded other settings, naming each.
  """
  settings = json.loads(json.dumps(settings))  # Tuples as lists, as read.
  path = os.path.join(directory, SETTINGS_FILE)
  if not os.path.exists(path):
    file_io.write_json(path, settings)
    return False
  recorded = file_io.read_json(path)
  changed = [f"{key} {recorded.get(key)!r} there, {settings.get(key)!r} now"
             for key in sorted(set(recorded) | set(settings))
             if recorded.get(key) != settings.get(key)]
  if changed:
    raise AnalysisError(
        f"{directory} holds a run of other settings ({'; '.join(changed)}); "
        "use another output directory, or delete it to start over")
  return True


def run_once(run_dir: str, settings: Mapping[str, Any], results_file: str,
             run: Callable[[], Any]) -> Any:
  """The results of `run_dir`'s finished run of `settings`, else `run()`'s.

  The settings are recorded before the run starts, so a killed run is
  resumed (the training scripts resume from their checkpoints) only with the
  same settings; a directory of other settings is refused, not mixed into.
  """
  if not record_settings(run_dir, settings) or not os.path.exists(
      results_file):
    run()
  return file_io.read_json(results_file)


@dataclasses.dataclass(frozen=True)
class Series:
  """One line or set of bars: its legend label, x, y and optional +- error."""
  label: str
  x: Sequence[Any]
  y: Sequence[float]
  error: Optional[Sequence[float]] = None


@dataclasses.dataclass(frozen=True)
class Panel:
  """One set of axes; `chance` draws the chance level as a dotted line."""
  title: str
  series: Sequence[Series]
  chance: Optional[float] = None


def _numbers(title: str, xlabel: str, ylabel: str,
             panels: Sequence[Panel]) -> dict[str, Any]:
  """Everything a plot shows, as JSON values."""
  return {"title": title, "xlabel": xlabel, "ylabel": ylabel, "panels": [
      {"title": p.title, "chance": p.chance, "series": [
          {"label": s.label, "x": list(s.x), "y": [float(v) for v in s.y],
           "error": None if s.error is None else [float(v) for v in s.error]}
          for s in p.series]} for p in panels]}


def _figure(title: str, num_panels: int, columns: int):
  rows = -(-num_panels // columns)
  width = max(7.0, 5.2 * columns)
  figure, axes = plt.subplots(rows, columns, squeeze=False, sharey=True,
                              figsize=(width, 4.0 * rows))
  for extra in axes.flat[num_panels:]:
    extra.set_visible(False)
  figure.suptitle(textwrap.fill(title, int(width * 10)))
  return figure, axes.flat[:num_panels]


def _finish(figure, axes, xlabel: str, ylabel: str, panels: Sequence[Panel],
            path: str) -> None:
  """Labels, chance lines and legend; writes the PNG under a temporary name,
  then renames it."""
  for ax, panel in zip(axes, panels):
    title = panel.title
    if panel.chance is not None:
      ax.axhline(panel.chance, color="grey", linestyle=":", label="chance")
      title += f" (chance {panel.chance:.3g})"
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
  handles, labels = axes[0].get_legend_handles_labels()
  columns = min(len(labels), 4)
  figure.legend(handles, labels, loc="lower center", ncol=columns,
                fontsize="small")
  legend_inches = 0.3 * -(-len(labels) // columns) + 0.15
  figure.tight_layout(
      rect=(0, legend_inches / figure.get_size_inches()[1], 1, 1))
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110)
  plt.close(figure)
  file_io.write_bytes(path, buffer.getvalue())


def line_plot(path: str, title: str, panels: Sequence[Panel], xlabel: str,
              ylabel: str, columns: int = 3) -> dict[str, Any]:
  """A PNG of one panel per entry, one line per series over integer x
  (layers); returns every plotted number, for the JSON beside it."""
  figure, axes = _figure(title, len(panels), min(columns, len(panels)))
  for ax, panel in zip(axes, panels):
    for series in panel.series:
      ax.errorbar(series.x, series.y, yerr=series.error, marker="o",
                  capsize=3, label=series.label)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  _finish(figure, axes, xlabel, ylabel, panels, path)
  return _numbers(title, xlabel, ylabel, panels)


def bar_plot(path: str, title: str, panel: Panel, xlabel: str,
             ylabel: str) -> dict[str, Any]:
  """A PNG of grouped bars: x are categories (languages), one bar of each
  series per category; returns every plotted number."""
  figure, axes = _figure(title, 1, 1)
  figure.set_size_inches(max(7.0, 1.1 * len(panel.series[0].x)), 4.5)
  width = 0.8 / len(panel.series)
  for i, series in enumerate(panel.series):
    positions = [j + (i - (len(panel.series) - 1) / 2) * width
                 for j in range(len(series.x))]
    axes[0].bar(positions, series.y, width, yerr=series.error, capsize=2,
                label=series.label)
  axes[0].set_xticks(range(len(panel.series[0].x)), panel.series[0].x)
  _finish(figure, axes, xlabel, ylabel, [panel], path)
  return _numbers(title, xlabel, ylabel, [panel])
