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

from typing import Any, Mapping

from rembert_tf import file_io

FORMAT = "rembert_tf.mlm_pretraining_shards"
FORMAT_VERSION = 1
_WRITTEN_BY = "an output_dir of create_pretraining_data.py"


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


# The keys training reads (besides each language's shards and weight).
_REQUIRED = (("max_seq_length",), ("max_predictions_per_seq",),
             ("sentencepiece", "vocab_size"), ("sentencepiece", "sha256"),
             ("sentencepiece", "special_ids", "pad"),
             ("sentencepiece", "special_ids", "cls"),
             ("sentencepiece", "special_ids", "sep"),
             ("sampling", "weights"), ("languages",))


def read_metadata(path: str) -> dict[str, Any]:
  """Reads `<dir>/metadata.json` (or the file itself) and checks its format
  and that every key training reads is there."""
  meta = file_io.read_metadata(path, FORMAT, FORMAT_VERSION,
                               written_by=_WRITTEN_BY)
  languages = meta.get("languages")
  per_language = [key for lang in (languages if isinstance(languages, dict)
                                   else ())
                  for key in (("languages", lang, "shards"),
                              ("sampling", "weights", lang))]
  file_io.require_keys(path, meta, [*_REQUIRED, *per_language],
                       written_by=_WRITTEN_BY)
  return meta


def validate(meta: Mapping[str, Any], data_dir: str, *, max_seq_length: int | None = None,
             max_predictions_per_seq: int | None = None,
             vocab_size: int | None = None,
             sp_model_sha256: str | None = None,
             special_ids: Mapping[str, int] | None = None) -> None:
  """Raises file_io.MetadataError if the data does not fit the training settings.

  Settings passed as None are not checked; `special_ids` are the model's
  ({"cls": ..., "sep": ..., "pad": ...}, `RemBertConfig.special_ids()`).
  """
  sp = meta["sentencepiece"]
  file_io.check_matches(
      data_dir,
      [("max_seq_length", meta["max_seq_length"], max_seq_length),
       ("max_predictions_per_seq", meta["max_predictions_per_seq"],
        max_predictions_per_seq),
       ("vocab_size", sp["vocab_size"], vocab_size),
       ("sentencepiece sha256", sp["sha256"], sp_model_sha256)] +
      file_io.special_id_checks(meta, special_ids or {}),
      "Regenerate the data with matching flags or change the training config "
      "to match.", here="in training")
