"""The fine-tuning protocols: Table 10's sweeps, Table 15's settings, the demo.

Every setting but the swept learning rate comes from the task's flagfile in
`flags/`, the same file `run_*.py` reads, so the suite and the scripts cannot
disagree; this module adds only what no flagfile holds, Table 10's grids
(each flagfile's own rate is its grid's middle, checked by a test). A
"training" is one fine-tuning: one per TSV task, `squad` for XQuAD and MLQA
(zero-shot from SQuAD v1.1) and `tydiqa`; QA uses the SQuAD row of both
tables.
"""

import dataclasses
import os
import typing
from typing import Any, Mapping, Optional, Sequence

from rembert_tf.training import common_flags

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FLAGS_DIR = os.path.join(REPO_ROOT, "flags")

# Table 10 (all models except RemBERT): learning rates, batch 32, 3 epochs.
# It has no POS row; POS takes the other structured-prediction task's (NER).
TABLE10_GRIDS = {
    "xnli": (1e-5, 2e-5, 3e-5),
    "pawsx": (3e-5, 4e-5, 5e-5),
    "udpos": (1e-5, 2e-5, 3e-5, 4e-5, 5e-5),
    "panx": (1e-5, 2e-5, 3e-5, 4e-5, 5e-5),
    "squad": (2e-5, 3e-5, 4e-5),
    "tydiqa": (2e-5, 3e-5, 4e-5),
}
# The flagfile family of each training (QA: the SQuAD files).
_FAMILY = {"xnli": "xnli", "pawsx": "pawsx", "udpos": "udpos",
           "panx": "panx", "squad": "squad", "tydiqa": "squad"}


@dataclasses.dataclass(frozen=True)
class TrainingPreset:
  """One training's settings: a flagfile and the rates to sweep (empty: the
  flagfile's --learning_rate alone)."""
  flagfile: str
  learning_rates: tuple[float, ...] = ()

  def rates(self) -> tuple[float, ...]:
    if self.learning_rates:
      return self.learning_rates
    return (float(read_flagfile(self.flagfile)["learning_rate"]),)


@dataclasses.dataclass(frozen=True)
class Preset:
  name: str
  description: str
  trainings: Mapping[str, TrainingPreset]


def _flagfile(name: str) -> str:
  return os.path.join(FLAGS_DIR, name + ".flags")


TABLE10 = Preset(
    "table10", "Table 10: each task's learning-rate grid, chosen on English "
    "dev; batch 32, 3 epochs",
    {t: TrainingPreset(_flagfile(_FAMILY[t]), grid)
     for t, grid in TABLE10_GRIDS.items()})
TABLE15 = Preset(
    "table15", "Table 15: RemBERT's single setting per task",
    {t: TrainingPreset(_flagfile(_FAMILY[t] + "_rembert"))
     for t in TABLE10_GRIDS})
# The demo's tiny model: the demo flagfiles' one rate; PAWS-X and POS take
# their family's (XNLI's, NER's) file, as the demo has none of their own.
_DEMO_FILES = {"xnli": "xnli_demo", "pawsx": "xnli_demo", "udpos": "panx_demo",
               "panx": "panx_demo", "squad": "squad_demo",
               "tydiqa": "squad_demo"}
DEMO = Preset(
    "demo", "the demo's tiny model on the embedded corpus: one rate per task "
    "(flags/*_demo.flags)",
    {t: TrainingPreset(_flagfile(f)) for t, f in _DEMO_FILES.items()})
PRESETS = {p.name: p for p in (TABLE10, TABLE15, DEMO)}


def read_flagfile(path: str) -> dict[str, str]:
  """`--name=value` lines of a flagfile (comments and blanks skipped)."""
  values = {}
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, start=1):
      line = line.strip()
      if not line or line.startswith("#"):
        continue
      if not line.startswith("--") or "=" not in line:
        raise ValueError(f"{path}:{number}: expected --name=value, got "
                         f"{line!r}")
      name, value = line[2:].split("=", 1)
      values[name] = value
  return values


def params_from_flagfile(params_class: type, path: str,
                         ignore: Sequence[str] = (),
                         **values: Any) -> Any:
  """`params_class` from a flagfile's values, then `values` (which win);
  flagfile names in `ignore` are dropped (the suite decides them)."""
  hints = typing.get_type_hints(params_class)
  fields = {f.name for f in dataclasses.fields(params_class)}
  settings = {}
  for name, text in read_flagfile(path).items():
    if name in ignore or name in values:
      continue
    if name not in fields:
      raise ValueError(f"{path}: --{name} is not a flag of "
                       f"{params_class.__name__}")
    settings[name] = common_flags.parse_flag_value(hints[name], text)
  return params_class(**{**settings, **values})


def flagfile_value(path: str, name: str) -> Optional[str]:
  return read_flagfile(path).get(name)
