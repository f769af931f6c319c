"""The one exception type for user-facing data-prep errors.

Command-line entry points catch it and print its message on one line (no
traceback) before exiting with status 1, so every message must name the file
or flag at fault and, where there is one, the fix.
"""


class DataPrepError(Exception):
  """Bad input, flags or output directory; the message says which and why."""
