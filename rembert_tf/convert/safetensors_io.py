"""Reads and writes `model.safetensors` tensor by tensor.

The format (8-byte little-endian header length, a JSON header of name -> dtype,
shape, byte offsets, then raw little-endian data) is simple enough to stream:
reading memory-maps the file, writing emits one tensor at a time, so neither
direction holds the whole model twice. A file shorter than its header says is
reported as truncated before anything is read.
"""

import json
import os
import struct
from typing import Callable, Iterable

import numpy as np

from rembert_tf.convert.errors import ConversionError

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
           "BF16": np.uint16, "I64": np.int64, "I32": np.int32}


class SafetensorsFile:
  """Name -> shape, and memory-mapped float32 values, of a safetensors file."""

  def __init__(self, path: str):
    self.path = path
    size = os.path.getsize(path)
    with open(path, "rb") as f:
      head = f.read(8)
      if len(head) < 8:
        raise ConversionError(f"{path}: truncated (no safetensors header)")
      (length,) = struct.unpack("<Q", head)
      if 8 + length > size:
        raise ConversionError(f"{path}: truncated (header of {length} bytes, "
                              f"file of {size})")
      try:
        header = json.loads(f.read(length))
      except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError(f"{path}: not a safetensors file ({e})") from None
    header.pop("__metadata__", None)
    self._start = 8 + length
    self._header = header
    end = max((entry["data_offsets"][1] for entry in header.values()), default=0)
    if self._start + end > size:
      raise ConversionError(
          f"{path}: truncated: its header needs {self._start + end} bytes, the "
          f"file has {size}")
    for name, entry in header.items():
      if entry["dtype"] not in _DTYPES:
        raise ConversionError(f"{path}: {name} has unsupported dtype "
                              f"{entry['dtype']}")

  def shapes(self) -> dict[str, list[int]]:
    return {name: list(entry["shape"]) for name, entry in self._header.items()}

  def read(self, name: str) -> np.ndarray:
    entry = self._header[name]
    begin, end = entry["data_offsets"]
    dtype = _DTYPES[entry["dtype"]]
    count = (end - begin) // np.dtype(dtype).itemsize
    value = np.memmap(self.path, dtype=dtype, mode="r",
                      offset=self._start + begin, shape=(count,))
    if entry["dtype"] == "BF16":
      value = (value.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(value, dtype=np.float32).reshape(entry["shape"])


def write(path: str, entries: Iterable[tuple[str, list[int]]],
          value_of: Callable[[str], np.ndarray],
          metadata: dict[str, str]) -> None:
  """Writes float32 tensors, asking `value_of(name)` for one at a time.

  Args:
    path: the output file.
    entries: (name, shape) of every tensor, in file order.
    value_of: returns a tensor's float32 value; it is written and released.
    metadata: the header's string-to-string `__metadata__`.
  """
  entries = list(entries)
  header, offset = {"__metadata__": metadata}, 0
  for name, shape in entries:
    size = 4 * int(np.prod(shape))
    header[name] = {"dtype": "F32", "shape": list(shape),
                    "data_offsets": [offset, offset + size]}
    offset += size
  encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
  encoded += b" " * (-len(encoded) % 8)
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)))
    f.write(encoded)
    for name, shape in entries:
      value = np.ascontiguousarray(value_of(name), dtype="<f4")
      if list(value.shape) != list(shape):
        raise ConversionError(f"{name}: value of shape {list(value.shape)}, "
                              f"expected {list(shape)}")
      f.write(memoryview(value).cast("B"))
