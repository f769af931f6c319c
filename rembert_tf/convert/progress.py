"""Progress lines for conversions of multi-gigabyte files."""

import sys
import time
from typing import TextIO


class Progress:
  """Prints `done/total tensors, GB, seconds` at most every `interval` seconds."""

  def __init__(self, what: str, total_tensors: int, total_bytes: int,
               stream: TextIO = sys.stderr, interval: float = 2.0):
    self._what = what
    self._total = total_tensors
    self._total_bytes = total_bytes
    self._stream = stream
    self._interval = interval
    self._start = self._last = time.monotonic()
    self._done = self._bytes = 0

  def update(self, num_bytes: int) -> None:
    self._done += 1
    self._bytes += num_bytes
    now = time.monotonic()
    if now - self._last >= self._interval or self._done == self._total:
      self._last = now
      self._stream.write(
          f"{self._what}: {self._done}/{self._total} tensors, "
          f"{self._bytes / 2**30:.2f}/{self._total_bytes / 2**30:.2f} GiB, "
          f"{now - self._start:.1f} s\n")
      self._stream.flush()
