"""Tests for rembert_tf.data.corpus_reader."""

import random

import pytest

from rembert_tf.data import corpus_reader
from rembert_tf.data.errors import DataPrepError


def _read_all(files, num_shards, skip=False):
  stats = corpus_reader.ReadStats()
  docs = [d for shard in corpus_reader.plan_shards(files, num_shards)
          for d in corpus_reader.read_documents(shard, stats, skip)]
  return docs, stats


def _random_corpus(rng, num_docs):
  """Text with CRLF, runs of blank lines, whitespace-only blank lines, long lines."""
  docs, parts = [], []
  for _ in range(num_docs):
    doc = [f"s{rng.randrange(10**6)} " + "x" * rng.choice([1, 5, 300, 5000])
           for _ in range(rng.randint(1, 4))]
    docs.append(doc)
    newline = rng.choice(["\n", "\r\n"])
    parts.append(newline.join(doc) + newline)
    parts.append(rng.choice(["\n", "\n\n\n", "  \t\n", "\r\n"]))
  return docs, "".join(parts)


@pytest.mark.parametrize("seed", range(4))
def test_shards_partition_documents_exactly(tmp_path, seed):
  rng = random.Random(seed)
  files, expected = [], []
  for i in range(3):
    docs, text = _random_corpus(rng, rng.randint(1, 30))
    path = tmp_path / f"f{i}.txt"
    path.write_bytes(text.encode())
    files.append(str(path))
    expected += docs
  for num_shards in (1, 2, 3, 7, 50, 400):
    docs, stats = _read_all(files, num_shards)
    assert docs == expected, num_shards
    assert stats.documents == len(expected)
    assert stats.sentences == sum(map(len, expected))


def test_plan_shards_covers_bytes_once(tmp_path):
  files = []
  for i, size in enumerate([10, 0, 33, 7]):
    (tmp_path / f"{i}.txt").write_bytes(b"a" * size)
    files.append(str(tmp_path / f"{i}.txt"))
  plan = corpus_reader.plan_shards(files, 4)
  covered = [(s.path, b) for shard in plan for s in shard
             for b in range(s.start, s.end)]
  assert len(covered) == len(set(covered)) == 50
  assert [sum(s.end - s.start for s in shard) for shard in plan] == [12, 13, 12, 13]


def test_undecodable_line_fails_with_file_and_line(tmp_path):
  path = tmp_path / "bad.txt"
  lines = [f"line {i}".encode() for i in range(2000)]
  lines[1234] = b"caf\xe9 latin-1"
  path.write_bytes(b"\n".join(lines[:500]) + b"\n\n" + b"\n".join(lines[500:]) + b"\n")
  with pytest.raises(DataPrepError, match=rf"{path}:1236: not valid UTF-8 .*"
                     "--on_decode_error=skip"):
    _read_all([str(path)], 5)
  docs, stats = _read_all([str(path)], 5, skip=True)
  assert stats.skipped_lines == 1
  assert sum(map(len, docs)) == 1999 and "caf" not in str(docs)


def test_check_has_text(tmp_path):
  blank = tmp_path / "blank.txt"
  blank.write_text("\n  \n\t\n", encoding="utf-8")
  with pytest.raises(DataPrepError, match=r"Language 'xx' has no text: .*blank.txt"):
    corpus_reader.check_has_text([str(blank)], "xx")
  text = tmp_path / "text.txt"
  text.write_text("\n\nhello\n", encoding="utf-8")
  corpus_reader.check_has_text([str(blank), str(text)], "xx")
