"""Tests for rembert_tf.data.input_files."""

import pytest

from rembert_tf.data.errors import DataPrepError
from rembert_tf.data.input_files import resolve_input_files


@pytest.fixture
def tree(tmp_path):
  for rel in ["de/b.txt", "de/sub/a.txt", "en/x.txt", "en/notes.md", "fr/y.txt"]:
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text("text\n", encoding="utf-8")
  return tmp_path


def test_input_dir(tree):
  files = resolve_input_files(str(tree), None, None)
  assert list(files) == ["de", "en", "fr"]
  assert files["de"] == [f"{tree}/de/b.txt", f"{tree}/de/sub/a.txt"]
  assert files["en"] == [f"{tree}/en/x.txt"]
  assert list(resolve_input_files(str(tree), None, ["fr", "de"])) == ["fr", "de"]


def test_input_file_patterns(tree):
  files = resolve_input_files(None, [f"en:{tree}/en/*.txt", f"xx:{tree}/fr/*.txt",
                                     f"xx:{tree}/de/*.txt"], None)
  assert files == {"en": [f"{tree}/en/x.txt"],
                   "xx": [f"{tree}/de/b.txt", f"{tree}/fr/y.txt"]}


@pytest.mark.parametrize("input_dir, input_file, languages, message", [
    (None, None, None, "exactly one of --input_dir and --input_file"),
    ("{tree}", ["en:x"], None, "exactly one of --input_dir and --input_file"),
    ("{tree}/nope", None, None, "--input_dir: .*/nope is not a directory"),
    (None, ["en/*.txt"], None, "'en/\\*.txt' is not LANG:GLOB"),
    (None, ["en:{tree}/en/*.txt"], ["de"], "no --input_file entry for 'de'"),
    ("{tree}", None, ["en", "en"], "lists a language twice"),
    ("{tree}", None, ["ja"], "Language 'ja': no files match .*/ja/\\*\\*/\\*.txt"),
])
def test_errors(tree, input_dir, input_file, languages, message):
  if input_dir:
    input_dir = input_dir.format(tree=tree)
  if input_file:
    input_file = [s.format(tree=tree) for s in input_file]
  with pytest.raises(DataPrepError, match=message):
    resolve_input_files(input_dir, input_file, languages)
