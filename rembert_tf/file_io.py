"""Atomic writes and self-describing metadata: the one home for both.

Every file and directory the project writes (shards, metadata, configs,
results, predictions, converted models, SavedModels) appears under its final
name only when complete: it is written under a temporary name and renamed, so a
crash or a kill never leaves a partial output that a later run would trust.

Every data directory that a later step reads describes itself with a
`metadata.json` whose `format` and `format_version` say what wrote it;
`read_metadata` checks them and `check_matches` compares the recorded settings
with the reader's, naming the file, each mismatch and the fix.

The core is TensorFlow-free, so data-prep workers can use it without the
~700 MB import. Paths with a scheme (`gs://...`) go through `tf.io.gfile`,
imported only then; object stores have no atomic rename, so there a write is
a copy under the temporary name followed by a rename that replaces the target.
"""

import contextlib
import json
import os
import shutil
from typing import (Any, BinaryIO, Iterable, Iterator, Mapping, Optional,
                    Sequence)

TEMP_SUFFIX = ".incomplete"
METADATA_FILE = "metadata.json"


class MetadataError(ValueError):
  """Missing, unreadable or mismatching metadata; the message says which."""


def is_remote(path: str) -> bool:
  """True for paths with a scheme (gs://, s3://): written through gfile."""
  return "://" in path


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


class AtomicFile:
  """A local binary file that appears under `path` only once closed cleanly.

  Data is fsync'ed before the rename, so a machine crash cannot leave a
  renamed file whose blocks never reached the disk. On an exception, in the
  body or while committing (a full disk), the temporary file is removed.
  """

  def __init__(self, path: str):
    self.path = path
    self.temp_path = path + TEMP_SUFFIX
    self._file: Optional[BinaryIO] = None

  def __enter__(self) -> BinaryIO:
    self._file = open(self.temp_path, "wb")
    return self._file

  def __exit__(self, exc_type, exc, tb) -> None:
    assert self._file is not None
    committed = False
    try:
      if exc_type is None:
        # Any of these can fail too (a full disk at flush, fsync or close).
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.temp_path, self.path)
        committed = True
    finally:
      if not committed:
        with contextlib.suppress(OSError):  # Already failing (a full disk?).
          self._file.close()
        os.remove(self.temp_path)


def blocking_file(path: str) -> Optional[str]:
  """The existing non-directory at or above local `path`, which stops it being
  used as a directory (os.makedirs would fail), or None."""
  if is_remote(path):
    return None  # Object stores have no files in the way of a prefix.
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  return None if os.path.isdir(existing) else existing


def write_bytes(path: str, data: bytes) -> None:
  """Writes `data` under a temporary name, then renames it into place."""
  if is_remote(path):
    gfile = _gfile()
    gfile.makedirs(os.path.dirname(path))
    with gfile.GFile(path + TEMP_SUFFIX, "wb") as f:
      f.write(data)
    gfile.rename(path + TEMP_SUFFIX, path, overwrite=True)
    return
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with AtomicFile(path) as f:
    f.write(data)


def write_text(path: str, text: str) -> None:
  """UTF-8 text, written atomically (local or remote paths)."""
  write_bytes(path, text.encode("utf-8"))


def write_lines(path: str, lines: Iterable[str]) -> None:
  """Streams UTF-8 lines to a local file (bounded memory), atomically."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with AtomicFile(path) as f:
    for line in lines:
      f.write(line.encode("utf-8"))


def json_text(values: Any) -> str:
  """The project's JSON style: sorted keys, indented, UTF-8 kept readable."""
  return json.dumps(values, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str, values: Any) -> None:
  """`json_text(values)`, written atomically (local or remote paths)."""
  write_text(path, json_text(values))


def read_json(path: str) -> Any:
  """Parses a JSON file, local or remote. Raises OSError or ValueError."""
  if is_remote(path):
    gfile = _gfile()
    try:
      with gfile.GFile(path) as f:
        return json.load(f)
    except _gfile_errors() as e:
      raise OSError(str(e)) from None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _gfile_errors() -> tuple[type[Exception], ...]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return (tf.errors.OpError,)


@contextlib.contextmanager
def atomic_directory(path: str, overwrite: bool = False) -> Iterator[str]:
  """Yields a temporary sibling of `path`, renamed to `path` only on success.

  A failure (or interrupt) leaves no partial output: the temporary directory
  is removed and an existing `path` is untouched. With `overwrite`, an
  existing `path` is replaced only once the new one is complete.
  """
  path = os.path.abspath(path)
  if os.path.exists(path) and not overwrite:
    raise FileExistsError(f"{path} already exists; choose another output "
                          "directory or pass overwrite")
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  old = None
  if os.path.exists(path):
    old = f"{tmp}.old"
    os.replace(path, old)
  os.replace(tmp, path)
  if old:
    shutil.rmtree(old, ignore_errors=True)


# What each metadata format holds, for the message when a directory of one
# is given where another is needed.
_FORMAT_KINDS = {"rembert_tf.mlm_pretraining_shards": "pre-training data",
                 "rembert_tf.classification_tfrecords": "classifier data",
                 "rembert_tf.tagging_tfrecords": "tagging data",
                 "rembert_tf.squad_features": "SQuAD features"}


def metadata_header(fmt: str, version: int, created_by: str) -> dict[str, Any]:
  """The keys every metadata file starts with: what wrote it, in which form."""
  return {"format": fmt, "format_version": version, "created_by": created_by}


def read_metadata(path: str, fmt: str, version: int, *,
                  written_by: str) -> dict[str, Any]:
  """Reads `<path>/metadata.json` (or the file `path`) and checks its format.

  Args:
    path: a data directory or its metadata file; local or remote.
    fmt: the expected `format`.
    version: the expected `format_version`.
    written_by: what writes such a directory, for the fix in the message
      ("an --output_dir of create_classifier_data.py").

  Raises:
    MetadataError: missing, unreadable or another format, naming the file.
  """
  path = metadata_file(path)
  try:
    meta = read_json(path)
  except FileNotFoundError:
    raise MetadataError(
        f"{path} not found: point the data path at {written_by} (it writes "
        f"{METADATA_FILE} when done)") from None
  except (OSError, ValueError) as e:
    raise MetadataError(f"{path}: unreadable metadata ({e}); point the data "
                        f"path at {written_by}") from None
  if not isinstance(meta, dict) or (
      meta.get("format"), meta.get("format_version")) != (fmt, version):
    other = meta.get("format") if isinstance(meta, dict) else None
    if other != fmt and other in _FORMAT_KINDS:
      raise MetadataError(
          f"{path}: this is {_FORMAT_KINDS[other]} ({meta.get('created_by')}), "
          f"not {_FORMAT_KINDS.get(fmt, fmt)}; point the data path at "
          f"{written_by}")
    found = meta if not isinstance(meta, dict) else (
        f"{meta.get('format')!r} version {meta.get('format_version')!r}")
    raise MetadataError(f"{path}: not {fmt} version {version} metadata "
                        f"(found {found}); point the data path at {written_by}")
  return meta


def require_keys(path: str, meta: Mapping[str, Any],
                 keys: Iterable[Sequence[str]], *, written_by: str) -> None:
  """Fails naming the first of `keys` (paths like ("sentencepiece",
  "vocab_size")) missing from `meta`, so an incomplete or hand-edited file
  fails before it is used, not with a KeyError on the way.

  `path` and `written_by` are as for `read_metadata`.
  """
  for key in keys:
    value = meta
    for depth, name in enumerate(key):
      if not isinstance(value, Mapping) or name not in value:
        raise MetadataError(
            f"{metadata_file(path)}: the key {'.'.join(key[:depth + 1])!r} is "
            "missing (an incomplete or hand-edited file); point the data path "
            f"at {written_by}, or regenerate it")
      value = value[name]


def metadata_file(path: str) -> str:
  """`<path>/metadata.json`, or `path` itself when it names a .json file."""
  return path if path.endswith(".json") else os.path.join(path, METADATA_FILE)


def special_id_checks(meta: Mapping[str, Any], special_ids: Mapping[str, int]
                      ) -> list[tuple[str, int, int]]:
  """`check_matches` entries: the data's recorded SentencePiece special ids
  (`meta["sentencepiece"]["special_ids"]`) against the model's."""
  recorded = meta["sentencepiece"]["special_ids"]
  return [(f"{name} id", recorded[name], value)
          for name, value in special_ids.items()]


def check_prepared_for(meta: Mapping[str, Any], path: str, *,
                       max_seq_length: int, vocab_size: int,
                       special_ids: Mapping[str, int], fix: str) -> None:
  """`check_matches` of a fine-tuning data directory (`meta["max_seq_length"]`
  and `meta["sentencepiece"]`) against the model's sequence length,
  vocabulary size and special ids."""
  check_matches(
      path,
      [("max_seq_length", meta["max_seq_length"], max_seq_length),
       ("vocab_size", meta["sentencepiece"]["vocab_size"], vocab_size)] +
      special_id_checks(meta, special_ids), fix)


def check_matches(path: str, checks: Sequence[tuple[str, Any, Any]],
                  fix: str, *, here: str = "here") -> None:
  """Raises MetadataError listing every (name, recorded, wanted) that differs.

  `path` is the data directory (or its metadata file). A wanted value of None
  is not checked. The message reads "<path>/metadata.json: <name> is
  <recorded> in the data but <wanted> <here>; ... <fix>".
  """
  problems = [f"{name} is {have} in the data but {want} {here}"
              for name, have, want in checks
              if want is not None and have != want]
  if problems:
    raise MetadataError(f"{metadata_file(path)}: " + "; ".join(problems) +
                        f". {fix}")
