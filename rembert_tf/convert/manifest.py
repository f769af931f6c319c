"""The conversion manifest: where every source tensor went, and what was left.

Written as `conversion_manifest.json` beside the converted weights, so a reader
can check each placement (source name, target name, shapes, transform) and see
every name that could not be placed; those are also logged.
"""

import dataclasses
import json
import logging
import os
from typing import Any

MANIFEST_FILE = "conversion_manifest.json"


@dataclasses.dataclass
class Manifest:
  """Accumulates placements while converting."""
  source: str
  source_format: str
  target_format: str
  placed: list[dict[str, Any]] = dataclasses.field(default_factory=list)
  unplaced: list[dict[str, Any]] = dataclasses.field(default_factory=list)
  skipped_optimizer_state: list[str] = dataclasses.field(default_factory=list)
  notes: list[str] = dataclasses.field(default_factory=list)

  def place(self, source: str, target: str, source_shape: list[int],
            target_shape: list[int], transform: str) -> None:
    self.placed.append(dict(source=source, target=target,
                            source_shape=list(source_shape),
                            target_shape=list(target_shape),
                            transform=transform))

  def leave(self, source: str, shape: list[int], reason: str) -> None:
    """Records a source tensor that was not converted, and logs it."""
    self.unplaced.append(dict(source=source, shape=list(shape), reason=reason))
    logging.warning("not converted: %s %s (%s)", source, list(shape), reason)

  def write(self, directory: str) -> str:
    path = os.path.join(directory, MANIFEST_FILE)
    with open(path, "w", encoding="utf-8") as f:
      json.dump(dataclasses.asdict(self), f, indent=1)
      f.write("\n")
    return path
