"""The one error every conversion failure raises (the CLI exits non-zero on it)."""


class ConversionError(ValueError):
  """The input cannot be converted; the message names the file or tensor."""
