"""Streams documents from BERT-format text: one sentence a line, blank lines
between documents, documents never crossing files.

Each language's files are split into `num_shards` contiguous byte ranges of
nearly equal size; a document belongs to the range holding its first byte.
A shard therefore reads only its own bytes (plus the tail of its last
document), so shards run in parallel, restart independently and together see
every document exactly once, in any worker layout.
"""

import dataclasses
import os
from typing import BinaryIO, Iterator, Sequence

from absl import logging

from rembert_tf.data.errors import DataPrepError

_MAX_LOGGED_BAD_LINES = 5


@dataclasses.dataclass(frozen=True)
class Segment:
  """Bytes [start, end) of one file; documents starting there are read."""
  path: str
  start: int
  end: int


@dataclasses.dataclass
class ReadStats:
  documents: int = 0
  sentences: int = 0
  skipped_lines: int = 0


def plan_shards(files: Sequence[str], num_shards: int) -> list[list[Segment]]:
  """Splits the concatenation of `files` into `num_shards` byte ranges."""
  sizes = [os.path.getsize(p) for p in files]
  total = sum(sizes)
  cuts = [total * k // num_shards for k in range(num_shards + 1)]
  shards = []
  for lo, hi in zip(cuts[:-1], cuts[1:]):
    segments, offset = [], 0
    for path, size in zip(files, sizes):
      start, end = max(lo - offset, 0), min(hi - offset, size)
      if start < end:
        segments.append(Segment(path, start, end))
      offset += size
    shards.append(segments)
  return shards


def check_has_text(files: Sequence[str], language: str) -> None:
  """Fails fast, before any shard is written, if a language has no text."""
  for path in files:
    with open(path, "rb") as f:
      for block in iter(lambda f=f: f.read(1 << 16), b""):
        if block.strip():
          return
  raise DataPrepError(
      f"Language {language!r} has no text: {', '.join(files)} hold only "
      "blank lines (remove it from --languages or add text).")


def _previous_line_blank(f: BinaryIO, line_start: int) -> bool:
  """Whether the line ending just before `line_start` is blank (or absent)."""
  if line_start == 0:
    return True
  tail, scan = b"", line_start - 1  # Byte line_start - 1 is that line's "\n".
  while scan > 0:
    lo = max(0, scan - 4096)
    f.seek(lo)
    chunk = f.read(scan - lo)
    newline = chunk.rfind(b"\n")
    if newline >= 0:
      return not (chunk[newline + 1:] + tail).strip()
    tail, scan = chunk + tail, lo
  return not tail.strip()


def _count_newlines(f: BinaryIO, end: int) -> int:
  f.seek(0)
  count, left = 0, end
  while left > 0:
    block = f.read(min(left, 1 << 20))
    count, left = count + block.count(b"\n"), left - len(block)
  return count


def read_segment(segment: Segment, stats: ReadStats,
                 skip_bad_lines: bool) -> Iterator[list[str]]:
  """Yields the documents (lists of sentences) that start in `segment`.

  Lines that are not UTF-8 are skipped and counted, or raise a DataPrepError
  naming file and line, depending on `skip_bad_lines`.
  """
  with open(segment.path, "rb") as f:
    pos = segment.start
    if pos > 0:
      f.seek(pos - 1)
      pos += len(f.readline()) - 1  # Now at the first line start >= start.
    prev_blank = _previous_line_blank(f, pos)
    f.seek(pos)
    base_line = None  # 1-based number of the line at `line_start`, on demand.
    line_start, lines_read = pos, 0
    sentences, in_doc = [], False
    for raw in f:
      offset, lines_read, pos = pos, lines_read + 1, pos + len(raw)
      if not raw.strip():
        if sentences:
          stats.documents += 1
          yield sentences
        sentences, in_doc = [], False
        prev_blank = True
        continue
      if not in_doc:
        if not prev_blank:  # Tail of a document that began before `start`.
          continue
        if offset >= segment.end:
          return
        in_doc = True
      prev_blank = False
      try:
        text = raw.decode("utf-8").strip()
      except UnicodeDecodeError as e:
        if base_line is None:
          base_line = _count_newlines(f, line_start) + 1
          f.seek(pos)
        where = f"{segment.path}:{base_line + lines_read - 1}"
        if not skip_bad_lines:
          raise DataPrepError(
              f"{where}: not valid UTF-8 ({e.reason} at byte {e.start}); fix "
              "the file or pass --on_decode_error=skip.") from e
        stats.skipped_lines += 1
        if stats.skipped_lines <= _MAX_LOGGED_BAD_LINES:
          logging.warning("%s: skipping a line that is not valid UTF-8.", where)
        continue
      if text:
        stats.sentences += 1
        sentences.append(text)
    if sentences:
      stats.documents += 1
      yield sentences


def read_documents(segments: Sequence[Segment], stats: ReadStats,
                   skip_bad_lines: bool) -> Iterator[list[str]]:
  """Yields every document of one shard, in file order."""
  for segment in segments:
    yield from read_segment(segment, stats, skip_bad_lines)
