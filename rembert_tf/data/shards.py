"""Shard naming and the output-directory bookkeeping that makes runs
restartable.

A shard `<lang>-<i>-of-<n>.tfrecord` is finished when its stats file
`<shard>.json` exists; both are renamed into place only when complete (the
stats file last). A restart skips finished shards, deletes leftover
`*.incomplete` files and refuses a directory holding shards made with other
settings; a lock keeps two runs from sharing a directory.
"""

import contextlib
import fcntl
import glob
import json
import os
from typing import Any, Iterable, Iterator, Mapping

from absl import logging

from rembert_tf import file_io
from rembert_tf.data.errors import DataPrepError

SHARD_SUFFIX = ".tfrecord"
STATS_SUFFIX = ".json"
LOCK_FILE = ".lock"


def shard_name(language: str, index: int, count: int) -> str:
  return f"{language}-{index:05d}-of-{count:05d}{SHARD_SUFFIX}"


@contextlib.contextmanager
def exclusive(output_dir: str) -> Iterator[None]:
  """Holds an exclusive lock on the output dir: one run writes there at a time.

  The lock file is removed on the way out, failures included, so a finished
  or failed run leaves only its outputs; one left by a killed run is unlocked
  and taken over by the next run.
  """
  path = os.path.join(output_dir, LOCK_FILE)
  with open(path, "w", encoding="utf-8") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
      # The holder may have removed the file between our open and flock.
      if os.fstat(f.fileno()).st_ino != os.stat(path).st_ino:
        raise BlockingIOError
    except (BlockingIOError, FileNotFoundError) as e:
      raise DataPrepError(
          f"--output_dir: {output_dir} is in use by another run (it holds "
          f"{path}); wait for it to finish or use another directory.") from e
    try:
      yield
    finally:
      os.remove(path)  # Before the lock is released by closing.


def remove_incomplete(output_dir: str, names: Iterable[str] = ()) -> None:
  """Deletes temporary files left by an interrupted run, and those of the
  shards `names` that lack their stats file (a worker stopped between the
  two renames), so that only finished shards remain."""
  paths = glob.glob(os.path.join(output_dir, "*" + file_io.TEMP_SUFFIX))
  paths += [path for path in (os.path.join(output_dir, n) for n in names)
            if os.path.exists(path) and not os.path.exists(path + STATS_SUFFIX)]
  for path in paths:
    logging.info("Removing %s, left by an interrupted run.", path)
    os.remove(path)


def _short(value: Any, limit: int = 120) -> str:
  text = repr(value)
  return text if len(text) <= limit else text[:limit] + "..."


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
  keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
  return "; ".join(f"{k}: {_short(old.get(k))} there, {_short(new.get(k))} now"
                   for k in keys)


def check_compatible(output_dir: str, expected_shards: set[str],
                     settings: Mapping[str, Any], fingerprint: str) -> None:
  """Refuses an output dir whose shards were made with other settings."""
  fix = ("use a new --output_dir, or delete its shards to rebuild them")
  for path in sorted(glob.glob(os.path.join(output_dir, "*" + SHARD_SUFFIX))):
    if os.path.basename(path) not in expected_shards:
      raise DataPrepError(
          f"--output_dir: {path} is not a shard of this run (other "
          f"--num_shards or --languages?); {fix}.")
  stats_files = glob.glob(os.path.join(output_dir, "*" + SHARD_SUFFIX + STATS_SUFFIX))
  meta_path = file_io.metadata_file(output_dir)
  for path in sorted(stats_files) + ([meta_path] if os.path.exists(meta_path) else []):
    with open(path, encoding="utf-8") as f:
      old = json.load(f)
    if old.get("settings_fingerprint") != fingerprint:
      raise DataPrepError(
          f"--output_dir: {path} was made with other settings "
          f"({_differences(old.get('settings', {}), settings)}); {fix}.")


def finished_stats(output_dir: str, name: str) -> dict[str, Any] | None:
  """The stats of a finished shard, or None if it must be (re)built."""
  stats_path = os.path.join(output_dir, name + STATS_SUFFIX)
  if not (os.path.exists(stats_path) and
          os.path.exists(os.path.join(output_dir, name))):
    return None
  with open(stats_path, encoding="utf-8") as f:
    return json.load(f)
