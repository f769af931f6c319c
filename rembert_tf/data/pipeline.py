"""Orchestrates data prep: text per language -> masked MLM shards + metadata.

Work is split into shards (a byte range of one language's text each) that
run in a pool of processes. A shard's bytes depend only on the settings, the
seed and its own index, so the output is identical for any number of
workers, and a restart skips shards that are already finished.
"""

import dataclasses
import errno
import hashlib
import json
import math
import multiprocessing
import os
import time
import zlib
from typing import Any, Iterator, Mapping, Sequence

from absl import logging
import numpy as np

from rembert_tf import file_io
from rembert_tf.data import corpus_reader
from rembert_tf.data import language_sampling
from rembert_tf.data import masking
from rembert_tf.data import metadata
from rembert_tf.data import packing
from rembert_tf.data import shards
from rembert_tf.data import tfrecord_writer
from rembert_tf.data.errors import DataPrepError
from rembert_tf.data.sentencepiece_vocab import Vocab, load_vocab

AUTO_SHARD_BYTES = 8 << 20  # num_shards=0: one shard per 8 MiB of text.
_SENTENCES_PER_BATCH = 4096  # Sentences tokenized per SentencePiece call.
_ROWS_PER_CHUNK = 2048  # Packed rows masked, shuffled and written together.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_DISK_FULL_NAMES = 10  # Finished shards named in the message, at most.


@dataclasses.dataclass(frozen=True)
class DataPrepConfig:
  """Everything a run needs; `input_files` maps language -> text files."""
  input_files: Mapping[str, Sequence[str]]
  output_dir: str
  sp_model_file: str
  max_seq_length: int = 128
  max_predictions_per_seq: int = 20
  masked_lm_prob: float = 0.15
  dupe_factor: int = 10
  random_seed: int = 12345
  do_whole_word_mask: bool = False
  alpha: float = 0.5
  num_shards: int = 0
  num_workers: int = 0
  skip_bad_lines: bool = False


@dataclasses.dataclass(frozen=True)
class _ShardTask:
  language: str
  index: int
  name: str
  segments: tuple[corpus_reader.Segment, ...]
  config: DataPrepConfig
  settings: Mapping[str, Any]
  fingerprint: str

  @property
  def num_bytes(self) -> int:
    return sum(s.end - s.start for s in self.segments)


def check_flags(config: DataPrepConfig) -> None:
  """Rejects impossible settings before anything is read or written.

  Only the numbers and the output path are checked, so callers can run it
  before resolving inputs.
  """
  problems = []
  blocker = file_io.blocking_file(config.output_dir)
  if blocker:
    problems.append(f"--output_dir={config.output_dir}: {blocker} is a file, "
                    "not a directory; pass a directory (it is created if "
                    "missing)")
  if config.max_seq_length < 3:
    problems.append(f"--max_seq_length={config.max_seq_length} leaves no room "
                    "for text besides [CLS] and [SEP]; use at least 3")
  if not 1 <= config.max_predictions_per_seq <= config.max_seq_length - 2:
    problems.append(
        f"--max_predictions_per_seq={config.max_predictions_per_seq} must be "
        f"between 1 and max_seq_length - 2 = {config.max_seq_length - 2} "
        "(the tokens a sequence can hold besides [CLS] and [SEP])")
  if not 0 < config.masked_lm_prob <= 1:
    problems.append(f"--masked_lm_prob={config.masked_lm_prob} must be in (0, 1]")
  if config.dupe_factor < 1:
    problems.append(f"--dupe_factor={config.dupe_factor} must be >= 1")
  if config.alpha < 0:
    problems.append(f"--alpha={config.alpha} must be >= 0")
  if config.num_shards < 0 or config.num_workers < 0:
    problems.append("--num_shards and --num_workers must be >= 0 (0 = auto)")
  if problems:
    raise DataPrepError("; ".join(problems) + ".")


def _shard_seed(seed: int, language: str, index: int) -> list[int]:
  return [seed, zlib.crc32(language.encode()), index]


_VOCABS: dict[str, Vocab] = {}


def _vocab(path: str) -> Vocab:
  """One loaded model per process and path (workers run many shards)."""
  if path not in _VOCABS:
    _VOCABS[path] = load_vocab(path)
  return _VOCABS[path]


def _packed_chunks(task: _ShardTask, vocab: Vocab,
                   stats: dict[str, int]) -> Iterator[list[list[int]]]:
  """Yields lists of packed token sequences read from the shard's text."""
  budget = task.config.max_seq_length - 2
  read_stats = corpus_reader.ReadStats()
  docs = corpus_reader.read_documents(task.segments, read_stats,
                                      task.config.skip_bad_lines)
  batch: list[list[str]] = []
  rows: list[list[int]] = []
  batch_sentences, done = 0, False
  while not done:
    doc = next(docs, None)
    done = doc is None
    if doc is not None:
      batch.append(doc)
      batch_sentences += len(doc)
    if batch and (done or batch_sentences >= _SENTENCES_PER_BATCH):
      flat = vocab.processor.encode([s for d in batch for s in d],
                                    out_type=int, num_threads=1)
      stats["tokens"] += sum(map(len, flat))
      start = 0
      for d in batch:
        rows.extend(packing.pack_document(flat[start:start + len(d)], budget))
        start += len(d)
      batch, batch_sentences = [], 0
    while len(rows) >= _ROWS_PER_CHUNK or (done and rows):
      yield rows[:_ROWS_PER_CHUNK]
      rows = rows[_ROWS_PER_CHUNK:]
  stats.update(documents=read_stats.documents, sentences=read_stats.sentences,
               skipped_lines=read_stats.skipped_lines)


def _run_shard(task: _ShardTask) -> dict[str, Any]:
  """Builds one shard file and its stats file; returns the stats."""
  config = task.config
  vocab = _vocab(config.sp_model_file)
  rng = np.random.default_rng(_shard_seed(config.random_seed, task.language,
                                          task.index))
  mask_config = masking.MaskingConfig(config.masked_lm_prob,
                                      config.max_predictions_per_seq,
                                      config.do_whole_word_mask)
  stats = {"tokens": 0, "examples": 0}
  path = os.path.join(config.output_dir, task.name)
  with file_io.AtomicFile(path) as f:
    for rows in _packed_chunks(task, vocab, stats):
      ids, input_mask = packing.to_arrays(rows, config.max_seq_length,
                                          vocab.special)
      copies = [masking.mask_batch(ids, input_mask, vocab, mask_config, rng)
                for _ in range(config.dupe_factor)]
      # Shuffle within the chunk so duplicates of a row are not adjacent.
      order = rng.permutation(len(rows) * config.dupe_factor)
      features = {
          "input_word_ids": np.concatenate([c["input_word_ids"] for c in copies]),
          "input_mask": np.tile(input_mask, (config.dupe_factor, 1)),
          "input_type_ids": np.zeros((len(order), config.max_seq_length), np.int32),
      }
      for key in ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights"):
        features[key] = np.concatenate([c[key] for c in copies])
      features = {k: v[order] for k, v in features.items()}
      f.write(tfrecord_writer.frame_records(
          tfrecord_writer.serialize_examples(features)))
      stats["examples"] += len(order)
  result = {**stats, "language": task.language, "shard": task.name,
            "settings": dict(task.settings),
            "settings_fingerprint": task.fingerprint}
  file_io.write_json(path + shards.STATS_SUFFIX, result)
  return result


def _input_fingerprint(files: Sequence[str]) -> list[list[Any]]:
  """Path, size and mtime of each input: a changed input invalidates shards."""
  return [[os.path.abspath(p), os.path.getsize(p), os.stat(p).st_mtime_ns]
          for p in files]


def _settings(config: DataPrepConfig, vocab: Vocab,
              num_shards: Mapping[str, int]) -> dict[str, Any]:
  """Everything that determines the bytes of the shards (alpha does not)."""
  return {"max_seq_length": config.max_seq_length,
          "max_predictions_per_seq": config.max_predictions_per_seq,
          "masked_lm_prob": config.masked_lm_prob,
          "dupe_factor": config.dupe_factor,
          "random_seed": config.random_seed,
          "do_whole_word_mask": config.do_whole_word_mask,
          "sp_model_sha256": vocab.sha256,
          "num_shards": dict(num_shards),
          "inputs": {lang: _input_fingerprint(files)
                     for lang, files in config.input_files.items()}}


def _plan(config: DataPrepConfig, vocab: Vocab) -> list[_ShardTask]:
  """Checks the inputs and splits each language into its shard tasks."""
  if not config.input_files:
    raise DataPrepError("No languages to process (check --languages).")
  num_shards = {}
  for lang, files in config.input_files.items():
    if not files:
      raise DataPrepError(f"Language {lang!r}: no input files.")
    for path in files:
      if not os.path.isfile(path):
        raise DataPrepError(f"Language {lang!r}: input {path} does not exist.")
    corpus_reader.check_has_text(files, lang)
    total = sum(map(os.path.getsize, files))
    num_shards[lang] = config.num_shards or max(1, math.ceil(total / AUTO_SHARD_BYTES))
  settings = _settings(config, vocab, num_shards)
  fingerprint = hashlib.sha256(
      json.dumps(settings, sort_keys=True).encode()).hexdigest()
  tasks = []
  for lang, files in config.input_files.items():
    for i, segments in enumerate(corpus_reader.plan_shards(files, num_shards[lang])):
      tasks.append(_ShardTask(lang, i, shards.shard_name(lang, i, num_shards[lang]),
                              tuple(segments), config, settings, fingerprint))
  return tasks


def _run_tasks(todo: Sequence[_ShardTask],
               num_workers: int) -> Iterator[dict[str, Any]]:
  """Runs shards in a process pool (inline with one worker), any order."""
  if num_workers <= 1:
    yield from map(_run_shard, todo)
    return
  # "spawn": callers (tests, notebooks) may have TensorFlow loaded, which
  # is not fork-safe; the workers themselves never import it.
  context = multiprocessing.get_context("spawn")
  with context.Pool(num_workers) as pool:
    yield from pool.imap_unordered(_run_shard, todo)


def run(config: DataPrepConfig) -> dict[str, Any]:
  """Writes all missing shards and `metadata.json`; returns the metadata.

  Raises:
    DataPrepError: bad input or settings, or a full disk (which keeps the
      finished shards, so a rerun resumes).
  """
  check_flags(config)
  vocab = load_vocab(config.sp_model_file)
  tasks = _plan(config, vocab)
  settings, fingerprint = tasks[0].settings, tasks[0].fingerprint
  try:
    os.makedirs(config.output_dir, exist_ok=True)
    with shards.exclusive(config.output_dir):
      results = _build_shards(config, tasks)
      meta = _metadata(config, vocab, tasks, results, settings, fingerprint)
      file_io.write_json(
          os.path.join(config.output_dir, file_io.METADATA_FILE), meta)
  except OSError as e:
    if e.errno not in _DISK_FULL:
      raise
    raise _disk_full_error(config, tasks, e) from None
  return meta


def _disk_full_error(config: DataPrepConfig, tasks: Sequence[_ShardTask],
                     error: OSError) -> DataPrepError:
  """Names what a full disk (or quota) left: finished shards, kept."""
  done = [t.name for t in tasks
          if shards.finished_stats(config.output_dir, t.name) is not None]
  shown = ", ".join(done[:_DISK_FULL_NAMES]) + (
      f" and {len(done) - _DISK_FULL_NAMES} more"
      if len(done) > _DISK_FULL_NAMES else "")
  kept = (f"{len(done)} of {len(tasks)} shards complete and kept ({shown}; "
          f"a complete one has its {shards.STATS_SUFFIX} stats file beside it)"
          if done else f"none of the {len(tasks)} shards complete")
  return DataPrepError(
      f"--output_dir={config.output_dir}: {error.strerror} while writing; "
      f"{kept}; {file_io.METADATA_FILE} not written. Free space and rerun the "
      "same command: it resumes after the complete shards.")


def _build_shards(config: DataPrepConfig,
                  tasks: Sequence[_ShardTask]) -> dict[str, dict[str, Any]]:
  """Builds the shards not finished yet; returns every shard's stats."""
  settings, fingerprint = tasks[0].settings, tasks[0].fingerprint
  shards.remove_incomplete(config.output_dir)
  shards.check_compatible(config.output_dir, {t.name for t in tasks},
                          settings, fingerprint)
  results = {}
  todo = []
  for task in tasks:
    stats = shards.finished_stats(config.output_dir, task.name)
    if stats is None:
      todo.append(task)
    else:
      results[task.name] = stats
  if results:
    logging.info("Skipping %d finished shards in %s.", len(results),
                 config.output_dir)
  # Largest first, so the pool does not end waiting on one big shard.
  todo.sort(key=lambda t: -t.num_bytes)
  total_bytes = sum(t.num_bytes for t in todo)
  num_workers = min(config.num_workers or os.cpu_count() or 1, max(len(todo), 1))
  start, done_bytes, tokens = time.time(), 0, 0
  by_name = {t.name: t for t in todo}
  try:
    for stats in _run_tasks(todo, num_workers):
      results[stats["shard"]] = stats
      done_bytes += by_name[stats["shard"]].num_bytes
      tokens += stats["tokens"]
      elapsed = time.time() - start
      eta = elapsed * (total_bytes - done_bytes) / max(done_bytes, 1)
      logging.info("%s done: %d examples; %d/%d shards; %.0f tokens/s; "
                   "ETA %.0fs", stats["shard"], stats["examples"],
                   len(results), len(tasks), tokens / max(elapsed, 1e-9), eta)
  finally:  # Only removes anything after a failure.
    shards.remove_incomplete(config.output_dir, (t.name for t in todo))
  return results


def _metadata(config: DataPrepConfig, vocab: Vocab, tasks: Sequence[_ShardTask],
              results: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any],
              fingerprint: str) -> dict[str, Any]:
  keys = ("documents", "sentences", "tokens", "examples", "skipped_lines")
  languages = {}
  for task in tasks:
    entry = languages.setdefault(task.language,
                                 {"shards": [], **dict.fromkeys(keys, 0)})
    entry["shards"].append(task.name)
    for key in keys:
      entry[key] += results[task.name][key]
  for lang, entry in languages.items():
    if entry["sentences"] == 0:
      raise DataPrepError(f"Language {lang!r} has no text in "
                          f"{', '.join(config.input_files[lang])}.")
  counts = {lang: entry["sentences"] for lang, entry in languages.items()}
  return {
      **file_io.metadata_header(metadata.FORMAT, metadata.FORMAT_VERSION,
                                "create_pretraining_data.py"),
      "max_seq_length": config.max_seq_length,
      "max_predictions_per_seq": config.max_predictions_per_seq,
      "dupe_factor": config.dupe_factor, "random_seed": config.random_seed,
      "masking": {"masked_lm_prob": config.masked_lm_prob,
                  "mask_fraction": masking.MASK_FRACTION,
                  "random_fraction": masking.RANDOM_FRACTION,
                  "keep_fraction": round(1 - masking.MASK_FRACTION
                                         - masking.RANDOM_FRACTION, 6),
                  "do_whole_word_mask": config.do_whole_word_mask},
      "sentencepiece": {"model_file": os.path.abspath(config.sp_model_file),
                        "sha256": vocab.sha256, "vocab_size": vocab.vocab_size,
                        "special_ids": vocab.special.as_dict()},
      "features": metadata.feature_spec(config.max_seq_length,
                                        config.max_predictions_per_seq),
      "sampling": {"alpha": config.alpha, "count_key": "sentences",
                   "weights": language_sampling.sampling_weights(counts, config.alpha)},
      "languages": languages,
      "totals": {k: sum(e[k] for e in languages.values()) for k in keys},
      "settings": dict(settings), "settings_fingerprint": fingerprint,
  }
