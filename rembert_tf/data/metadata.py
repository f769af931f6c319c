"""The metadata JSON written beside the shards, and checks against it.

Training reads it before the first step (`read_metadata`, `validate`), so a
data/config mismatch is one clear error naming the file and the setting, not
"Can't parse serialized Example" mid-run. Keys (format_version 1):

  format, format_version, created_by
  max_seq_length, max_predictions_per_seq, dupe_factor, random_seed
  masking: masked_lm_prob, mask_fraction, random_fraction, keep_fraction,
      do_whole_word_mask
  sentencepiece: model_file, sha256, vocab_size,
      special_ids: {pad, unk, cls, sep, mask}
  features: {name: {dtype, shape}} for the six MLM features
  sampling: alpha, count_key ("sentences"), weights {lang: p}
  languages: {lang: {shards: [file names], documents, sentences, tokens,
      examples, skipped_lines}}
  totals: documents, sentences, tokens, examples, skipped_lines
  settings_fingerprint: sha256 of everything that shapes the shard bytes
"""

import json
import os
from typing import Any, Mapping

FILENAME = "metadata.json"
FORMAT = "rembert_tf.mlm_pretraining_shards"
FORMAT_VERSION = 1
# Injected by read_metadata (not stored), so errors can name the file.
PATH_KEY = "metadata_file"


class MetadataError(ValueError):
  """Missing, unreadable or mismatching pretraining-data metadata."""


def feature_spec(max_seq_length: int,
                 max_predictions_per_seq: int) -> dict[str, dict[str, Any]]:
  """Names, dtypes and shapes of the features in every example."""
  s, p = [max_seq_length], [max_predictions_per_seq]
  return {"input_word_ids": {"dtype": "int64", "shape": s},
          "input_mask": {"dtype": "int64", "shape": s},
          "input_type_ids": {"dtype": "int64", "shape": s},
          "masked_lm_positions": {"dtype": "int64", "shape": p},
          "masked_lm_ids": {"dtype": "int64", "shape": p},
          "masked_lm_weights": {"dtype": "float32", "shape": p}}


def write_json_atomic(path: str, data: Mapping[str, Any]) -> None:
  """Writes JSON under a temporary name, then renames it into place."""
  temp = path + ".incomplete"
  with open(temp, "w", encoding="utf-8") as f:
    json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=True)
    f.write("\n")
  os.replace(temp, path)


def read_metadata(path: str) -> dict[str, Any]:
  """Reads `<dir>/metadata.json` (or the file itself) and checks its format."""
  if os.path.isdir(path):
    path = os.path.join(path, FILENAME)
  if not os.path.isfile(path):
    raise MetadataError(
        f"{path} not found: point the data path at an output_dir of "
        "create_pretraining_data.py (it writes metadata.json when done).")
  try:
    with open(path, encoding="utf-8") as f:
      meta = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise MetadataError(f"{path}: unreadable metadata ({e}).") from e
  if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
    raise MetadataError(
        f"{path}: not {FORMAT} version {FORMAT_VERSION} metadata (found "
        f"{meta.get('format')!r} version {meta.get('format_version')!r}).")
  meta[PATH_KEY] = path
  return meta


def validate(meta: Mapping[str, Any], *, max_seq_length: int | None = None,
             max_predictions_per_seq: int | None = None,
             vocab_size: int | None = None,
             sp_model_sha256: str | None = None) -> None:
  """Raises MetadataError if the data does not fit the training settings.

  Settings passed as None are not checked.
  """
  sp = meta["sentencepiece"]
  checks = [("max_seq_length", meta["max_seq_length"], max_seq_length),
            ("max_predictions_per_seq", meta["max_predictions_per_seq"],
             max_predictions_per_seq),
            ("vocab_size", sp["vocab_size"], vocab_size),
            ("sentencepiece sha256", sp["sha256"], sp_model_sha256)]
  problems = [f"{name} is {have} in the data but {want} in training"
              for name, have, want in checks
              if want is not None and have != want]
  if problems:
    raise MetadataError(
        f"{meta.get(PATH_KEY, FILENAME)}: " + "; ".join(problems) +
        ". Regenerate the data with matching flags or change the training "
        "config to match.")
