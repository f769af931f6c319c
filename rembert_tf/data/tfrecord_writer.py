"""TFRecord files of `tf.train.Example`s, written without TensorFlow.

Importing TensorFlow costs about 700 MB of RSS per process, more than
everything else data prep needs, so worker processes encode the protobuf wire
format and the TFRecord framing (length, masked CRC-32C, data, masked CRC-32C)
themselves with NumPy. Both formats are fixed and small; tests parse the
output with TensorFlow, which verifies every checksum.

Callers write the bytes through `file_io.AtomicFile` (`write_examples` does),
so a crash never leaves a truncated file under the final name.
"""

import struct
from typing import Mapping, Sequence

import numpy as np

from rembert_tf import file_io

_CRC_POLY = 0x82F63B78  # CRC-32C (Castagnoli), bit-reversed.
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def _crc_table() -> np.ndarray:
  table = np.arange(256, dtype=np.uint32)
  for _ in range(8):
    table = np.where(table & 1, (table >> 1) ^ _CRC_POLY, table >> 1)
  return table.astype(np.uint32)


_TABLE = _crc_table()


def masked_crc32c(records: Sequence[bytes]) -> np.ndarray:
  """TFRecord's masked CRC-32C of each record, all records at once."""
  lengths = np.fromiter(map(len, records), np.int64, len(records))
  order = np.argsort(-lengths, kind="stable")
  sorted_lengths = lengths[order]
  longest = int(sorted_lengths[0]) if len(records) else 0
  data = np.zeros((len(records), longest), np.uint8)
  data[np.arange(longest) < sorted_lengths[:, None]] = np.frombuffer(
      b"".join(records[i] for i in order), np.uint8)
  # Longest first, so the records still running at column j are a prefix.
  live = np.searchsorted(-sorted_lengths, -np.arange(1, longest + 1), "right")
  crc = np.full(len(records), _U32, np.uint32)
  for j in range(longest):
    c = crc[:live[j]]
    crc[:live[j]] = _TABLE[(c ^ data[:live[j], j]) & 0xFF] ^ (c >> 8)
  crc ^= np.uint32(_U32)
  masked = ((crc >> 15) | (crc << 17)) + np.uint32(_MASK_DELTA)
  out = np.empty_like(masked)
  out[order] = masked
  return out


_VARINT = [bytes([n]) if n < 128 else bytes([n & 0x7F | 0x80, n >> 7])
           for n in range(1 << 14)]


def _varint(n: int) -> bytes:
  if n < len(_VARINT):
    return _VARINT[n]
  out = bytearray()
  while n >= 0x80:
    out.append(n & 0x7F | 0x80)
    n >>= 7
  out.append(n)
  return bytes(out)


def _varint_rows(values: np.ndarray) -> list[bytes]:
  """Packed varint encoding of each row of a non-negative int [R, N] array."""
  v = values.astype(np.uint64)
  groups = [(v >> np.uint64(7 * k)) & np.uint64(0x7F) for k in range(5)]
  size = 1 + sum((v >= np.uint64(1 << (7 * k))).astype(np.int64)
                 for k in range(1, 5))
  if (v >= np.uint64(1 << 35)).any():
    raise ValueError("Token ids must be below 2**35.")
  data = np.stack(groups, axis=-1).astype(np.uint8)  # [R, N, 5]
  data[np.arange(5) < (size - 1)[..., None]] |= 0x80
  flat = data[np.arange(5) < size[..., None]].tobytes()
  ends = np.cumsum(size.sum(axis=1))
  starts = ends - size.sum(axis=1)
  return [flat[s:e] for s, e in zip(starts.tolist(), ends.tolist())]


def _feature_entry(name: bytes, kind: bytes, payload: bytes) -> bytes:
  """One `Features.feature` map entry holding a packed list."""
  values = b"\x0a" + _varint(len(payload)) + payload
  feature = kind + _varint(len(values)) + values
  body = b"\x0a" + _varint(len(name)) + name + b"\x12" + _varint(len(feature)) + feature
  return b"\x0a" + _varint(len(body)) + body


def serialize_examples(features: Mapping[str, np.ndarray]) -> list[bytes]:
  """Serialized `tf.train.Example`s, one per row of the [R, N] arrays.

  Integer arrays become int64_list features, float arrays float_list.
  """
  columns = []
  for name, array in features.items():
    if np.issubdtype(array.dtype, np.floating):
      rows = [r.tobytes() for r in array.astype("<f4")]
      kind = b"\x12"
    else:
      rows = _varint_rows(array)
      kind = b"\x1a"
    columns.append((name.encode(), kind, rows))
  out = []
  for i in range(len(columns[0][2]) if columns else 0):
    body = b"".join(_feature_entry(n, k, rows[i]) for n, k, rows in columns)
    out.append(b"\x0a" + _varint(len(body)) + body)
  return out


def frame_records(records: Sequence[bytes]) -> bytes:
  """TFRecord framing of serialized records, concatenated."""
  if not records:
    return b""
  headers = [struct.pack("<Q", len(r)) for r in records]
  header_crc = masked_crc32c(headers).tolist()
  data_crc = masked_crc32c(records).tolist()
  return b"".join(h + struct.pack("<I", hc) + r + struct.pack("<I", dc)
                  for h, hc, r, dc in zip(headers, header_crc, records, data_crc))


def write_examples(path: str, features: Mapping[str, np.ndarray]) -> None:
  """One local TFRecord file of `serialize_examples(features)`, atomically."""
  with file_io.AtomicFile(path) as f:
    f.write(frame_records(serialize_examples(features)))
