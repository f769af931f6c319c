"""Training input: parses the MLM shards and mixes languages by the
alpha-smoothed weights recorded in their metadata.

This is the only module of the package that imports TensorFlow.
"""

import os
from typing import Any, Mapping

import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.data import metadata as metadata_lib


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
