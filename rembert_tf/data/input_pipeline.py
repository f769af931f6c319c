"""Training input: parses the MLM shards and mixes languages by the
alpha-smoothed weights recorded in their metadata.

This is the only module of the package that imports TensorFlow.
"""

import os
import re
import struct
from typing import Any, Mapping

import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.data import metadata as metadata_lib
from rembert_tf.data import tfrecord_writer


def decode_record(record: tf.Tensor, max_seq_length: int,
                  max_predictions_per_seq: int) -> dict[str, tf.Tensor]:
  """Parses one serialized example into int32/float32 tensors of static shape."""
  spec = metadata_lib.feature_spec(max_seq_length, max_predictions_per_seq)
  parsed = tf.io.parse_single_example(record, {
      name: tf.io.FixedLenFeature(f["shape"], tf.as_dtype(f["dtype"]))
      for name, f in spec.items()})
  return {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v
          for k, v in parsed.items()}


def _language_files(data_dir: str, meta: Mapping[str, Any], language: str) -> list[str]:
  files = [os.path.join(data_dir, n) for n in meta["languages"][language]["shards"]]
  missing = [f for f in files if not tf.io.gfile.exists(f)]
  if missing:
    raise file_io.MetadataError(
        f"{file_io.metadata_file(data_dir)}: shard files missing: {missing}.")
  return files


# How to replace one damaged shard: data prep rebuilds only missing shards.
REGENERATE_SHARD = ("copy it again, or delete it and its .json stats file and "
                    "rerun the create_pretraining_data.py command that wrote "
                    "it (it rebuilds only missing shards)")


def data_loss_reason(error: tf.errors.DataLossError) -> str:
  """TensorFlow's reason ("truncated record at 1044"), without the op trace."""
  match = re.search(r"(truncated|corrupted) record at \d+", error.message)
  return match.group(0) if match else error.message.split(" [Op:")[0]


def _first_record(data_dir: str, meta: Mapping[str, Any],
                  language: str) -> tuple[str, bytes] | None:
  """The language's first record and its shard (empty shards skipped).

  Read through gfile and checked here (length, data CRC) rather than with
  tf.data: an eager op this early would initialise TensorFlow's runtime
  before the multi-worker strategy, which must configure it first.
  """
  for shard in _language_files(data_dir, meta, language):
    with tf.io.gfile.GFile(shard, "rb") as f:
      header = f.read(12)
      if not header:
        continue
      length = struct.unpack("<Q", header[:8])[0] if len(header) == 12 else -1
      data = f.read(length) if length >= 0 else b""
      data_crc = f.read(4)
    if length < 0 or len(data) != length or len(data_crc) != 4:
      problem = "truncated record at 0"
    elif struct.unpack("<I", data_crc)[0] != int(
        tfrecord_writer.masked_crc32c([data])[0]):
      problem = "corrupted record at 0"
    else:
      return shard, data
    raise file_io.MetadataError(f"{shard}: {problem}: the file is truncated "
                                f"or corrupt; {REGENERATE_SHARD}")
  return None


def check_first_records(data_dir: str, meta: Mapping[str, Any]) -> None:
  """Fails unless each language's first record has the features, types and
  lengths that training will parse by the metadata.

  One record a language is cheap even on a bucket, and it catches a
  metadata.json that does not describe its shards (copied in from other data,
  or edited) before the first step instead of as a parse error mid-run.

  Raises:
    file_io.MetadataError: naming the shard, the features and the fix.
  """
  spec = metadata_lib.feature_spec(meta["max_seq_length"],
                                   meta["max_predictions_per_seq"])
  for lang in meta["languages"]:
    found = _first_record(data_dir, meta, lang)
    if found is None:
      continue  # No records: nothing that training could misparse.
    shard, record = found
    features = tf.train.Example.FromString(record).features.feature
    problems = []
    for name, want in spec.items():
      kind = "float_list" if want["dtype"] == "float32" else "int64_list"
      if name not in features or features[name].WhichOneof("kind") != kind:
        problems.append(f"no {kind} feature {name}")
      elif len(getattr(features[name], kind).value) != want["shape"][0]:
        problems.append(f"{name} has {len(getattr(features[name], kind).value)}"
                        f" values, not {want['shape'][0]}")
    if problems:
      raise file_io.MetadataError(
          f"{shard}: its first record does not match "
          f"{file_io.metadata_file(data_dir)} (max_seq_length "
          f"{meta['max_seq_length']}, max_predictions_per_seq "
          f"{meta['max_predictions_per_seq']}): {'; '.join(problems)}; the "
          "metadata does not describe these records: regenerate the data with "
          "create_pretraining_data.py")


def damaged_shards(data_dir: str, meta: Mapping[str, Any]) -> list[str]:
  """"<shard> (<reason>)" for each shard that does not read to its end.

  Reads every shard in full, so it is only for after a read failed:
  TensorFlow's DataLossError does not say which file it came from.
  """
  damaged = []
  for lang in meta["languages"]:
    for shard in _language_files(data_dir, meta, lang):
      try:
        tf.data.TFRecordDataset(shard).reduce(0, lambda n, _: n + 1)
      except tf.errors.DataLossError as e:
        damaged.append(f"{shard} ({data_loss_reason(e)})")
  return damaged


def make_pretraining_dataset(
    data_dir: str, *, batch_size: int, max_seq_length: int,
    max_predictions_per_seq: int, vocab_size: int | None = None,
    is_training: bool = True, seed: int | None = None,
    shuffle_buffer_size: int = 10_000,
    input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
  """Batches of MLM features from `data_dir` (an output_dir of data prep).

  The metadata is read and checked against the given settings first, so a
  mismatch fails here, before training starts. For training, each language's
  shards repeat forever and are mixed with the metadata's sampling weights;
  for evaluation every example is read once, languages in order.
  `input_context` shards the input per host for distributed training.
  """
  meta = metadata_lib.read_metadata(data_dir)
  metadata_lib.validate(meta, data_dir, max_seq_length=max_seq_length,
                        max_predictions_per_seq=max_predictions_per_seq,
                        vocab_size=vocab_size)
  languages = list(meta["languages"])
  per_language = []
  for lang in languages:
    files = _language_files(data_dir, meta, lang)
    ds = tf.data.Dataset.from_tensor_slices(files)
    pipelines = input_context.num_input_pipelines if input_context else 1
    # Shard by file when every pipeline gets one, else by record.
    by_file = len(files) >= pipelines
    if pipelines > 1 and by_file:
      ds = ds.shard(pipelines, input_context.input_pipeline_id)
    if is_training:
      ds = ds.shuffle(len(files), seed=seed).repeat()
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=4,
                       num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=seed is not None or not is_training)
    if pipelines > 1 and not by_file:
      ds = ds.shard(pipelines, input_context.input_pipeline_id)
    if is_training:
      ds = ds.shuffle(shuffle_buffer_size, seed=seed)
    per_language.append(ds)
  if is_training:
    weights = [meta["sampling"]["weights"][lang] for lang in languages]
    ds = tf.data.Dataset.sample_from_datasets(per_language, weights, seed=seed)
  else:
    ds = per_language[0]
    for other in per_language[1:]:
      ds = ds.concatenate(other)
  ds = ds.map(lambda r: decode_record(r, max_seq_length, max_predictions_per_seq),
              num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=is_training).prefetch(tf.data.AUTOTUNE)
