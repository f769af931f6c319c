"""Resolves the per-language input flags to sorted lists of text files."""

import glob
import os
from typing import Sequence

from rembert_tf.data.errors import DataPrepError


def resolve_input_files(input_dir: str | None, input_file: Sequence[str] | None,
                        languages: Sequence[str] | None) -> dict[str, list[str]]:
  """Maps each language to its files, from `--input_dir` or `--input_file`.

  `input_dir` holds one subdirectory per language with `*.txt` files (searched
  recursively); `input_file` entries are `LANG:GLOB`. `languages` selects and
  orders languages (default: all found, sorted).
  """
  if bool(input_dir) == bool(input_file):
    raise DataPrepError("Pass exactly one of --input_dir and --input_file.")
  patterns: dict[str, list[str]] = {}
  if input_file:
    for entry in input_file:
      lang, sep, pattern = entry.partition(":")
      if not sep or not lang or not pattern:
        raise DataPrepError(f"--input_file entry {entry!r} is not LANG:GLOB.")
      patterns.setdefault(lang, []).append(pattern)
  else:
    if not os.path.isdir(input_dir):
      raise DataPrepError(f"--input_dir: {input_dir} is not a directory.")
    found = sorted(d for d in os.listdir(input_dir)
                   if os.path.isdir(os.path.join(input_dir, d)))
    patterns = {lang: [os.path.join(input_dir, lang, "**", "*.txt")]
                for lang in (languages or found)}
  chosen = list(languages or sorted(patterns))
  if not chosen:
    raise DataPrepError(f"--input_dir: {input_dir} has no language subdirectories.")
  if len(set(chosen)) != len(chosen):
    raise DataPrepError(f"--languages lists a language twice: {chosen}.")
  files = {}
  for lang in chosen:
    if lang not in patterns:
      raise DataPrepError(f"--languages: no --input_file entry for {lang!r}.")
    matched = sorted({p for pattern in patterns[lang]
                      for p in glob.glob(pattern, recursive=True)
                      if os.path.isfile(p)})
    if not matched:
      raise DataPrepError(
          f"Language {lang!r}: no files match {' or '.join(patterns[lang])} "
          "(check --input_dir/--input_file and --languages).")
    files[lang] = matched
  return files
