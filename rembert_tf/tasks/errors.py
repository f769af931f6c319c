"""The one exception type for user errors in fine-tuning and its data prep.

The command-line scripts print its message on one line and exit with status 1,
so every message names the file, flag or checkpoint at fault. `read_utf8`
reads the tasks' text files (TSV, JSON) so that bad bytes are such an error.
"""


class TaskError(ValueError):
  """Bad task data, flags or checkpoint; the message says which and why."""


def read_utf8(path: str) -> str:
  """The text of a UTF-8 file; other bytes are a TaskError naming the line
  and byte, since a traceback would not say where or how to fix it."""
  with open(path, "rb") as f:
    data = f.read()
  try:
    return data.decode("utf-8")
  except UnicodeDecodeError as e:
    line = data.count(b"\n", 0, e.start) + 1
    raise TaskError(
        f"{path}:{line}: not valid UTF-8 ({e.reason} at byte {e.start} of the "
        "file); re-encode it as UTF-8 (e.g. iconv -f <its encoding> -t UTF-8)"
        ) from None
