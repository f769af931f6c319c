"""The one exception type for user errors in fine-tuning and its data prep.

The command-line scripts print its message on one line and exit with status 1,
so every message names the file, flag or checkpoint at fault.
"""


class TaskError(ValueError):
  """Bad task data, flags or checkpoint; the message says which and why."""
