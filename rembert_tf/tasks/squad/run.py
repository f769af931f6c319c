"""Extractive QA: fine-tune on English SQuAD, evaluate zero-shot per language.

XQuAD, MLQA and TyDiQA-GoldP ship in the SQuAD v1.1 layout, one JSON file per
language (`--predict_file` with a `{lang}` placeholder and
`--predict_languages`). One function from settings to checkpoints, per-
language predictions, EM/F1 table and a raw-text SavedModel, on the shared
fine-tuning harness (`tasks.finetuning`):
  - Before anything is written, the flags, the config, the SentencePiece model
    (against the config's vocabulary and special ids), every input file and
    the feature cache are checked.
  - Features (`squad_features`) go to `features_dir` (default
    `model_dir/features`), one directory per input file, each appearing only
    when complete and reused while input, SentencePiece model and settings are
    the same. Features of other settings there are an error, not silently
    replaced: the checkpoints beside them were trained on them. A run that
    fails later (a bad JSON file, a checkpoint of another config) leaves at
    most the feature directories it completed, which the next run reuses;
    never a partial file, checkpoint or result.
  - Training counts an epoch as one pass over the training features (doc-
    stride windows), as tf-models-official and Hugging Face do. A run started
    again with the same command resumes from the latest checkpoint.
  - Prediction is exact (`evaluation.pad_batches` / `predict_exact`), then
    `squad_postprocess` picks each question's answer over all its windows
    and `squad_metrics` scores it (official SQuAD v1.1, or MLQA's language-
    aware normalisation with `eval_normalization="mlqa"`).
In a multi-worker cluster only the chief writes predictions, results and the
SavedModel.
"""

import dataclasses
import os
import re
from typing import Any, Optional, Sequence

from absl import logging

from rembert_tf import file_io
from rembert_tf import tokenizer
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data.errors import DataPrepError
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks import evaluation
from rembert_tf.tasks import harness
from rembert_tf.tasks.squad import export as squad_export
from rembert_tf.tasks.squad import features as squad_features
from rembert_tf.tasks.squad import inputs as squad_input
from rembert_tf.tasks.squad import metrics as squad_metrics
from rembert_tf.tasks.squad import model as squad_model
from rembert_tf.tasks.squad import postprocess as squad_postprocess
from rembert_tf.tasks import inputs as task_input
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training.params import FinetuningParams
from rembert_tf.training.params import check_positive
from rembert_tf.training.trainer import Trainer

RESULTS_FILE = "eval_results.json"
PREDICTIONS_DIR = "predictions"
FEATURES_DIR = "features"
EXPORT_DIR = "saved_model"
LANG = "{lang}"
EVAL_NORMALIZATIONS = ("squad", "mlqa")
_LANGUAGE_CODE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SquadParams(FinetuningParams):
  """What `run_squad.py`'s flags set (google-research/bert's names)."""
  sp_model_file: str
  train_file: Optional[str] = None
  predict_file: Optional[str] = None
  predict_languages: Sequence[str] = ()
  features_dir: Optional[str] = None
  max_seq_length: int = 384
  doc_stride: int = 128
  max_query_length: int = 64
  n_best_size: int = 20
  max_answer_length: int = 30
  version_2_with_negative: bool = False
  null_score_diff_threshold: float = 0.0
  skip_bad_examples: bool = False
  eval_normalization: str = "squad"
  overwrite_features: bool = False

  def feature_settings(self) -> squad_features.FeatureSettings:
    return squad_features.FeatureSettings(
        max_seq_length=self.max_seq_length, doc_stride=self.doc_stride,
        max_query_length=self.max_query_length,
        version_2_with_negative=self.version_2_with_negative,
        skip_bad_examples=self.skip_bad_examples)

  def answer_settings(self) -> squad_export.AnswerSettings:
    return squad_export.AnswerSettings(
        max_seq_length=self.max_seq_length, doc_stride=self.doc_stride,
        max_query_length=self.max_query_length, n_best_size=self.n_best_size,
        max_answer_length=self.max_answer_length,
        version_2_with_negative=self.version_2_with_negative,
        null_score_diff_threshold=self.null_score_diff_threshold)


def _check_params(params: SquadParams) -> None:
  """The task's own flags, named, before anything is read or written."""
  check_positive(params, "n_best_size", "max_answer_length")
  params.feature_settings().check()
  if params.eval_normalization not in EVAL_NORMALIZATIONS:
    raise TaskError(f"--eval_normalization={params.eval_normalization!r}: use "
                    f"one of {', '.join(EVAL_NORMALIZATIONS)}")
  if params.do_train and not params.train_file:
    raise TaskError("--do_train needs --train_file (SQuAD JSON, English), "
                    "or pass --nodo_train")
  if params.do_eval and not params.predict_file:
    raise TaskError("--do_eval needs --predict_file (SQuAD JSON; with a "
                    f"{LANG} placeholder and --predict_languages for one file "
                    "per language), or pass --nodo_eval")
  features_dir = _features_dir(params)
  if "://" in features_dir:
    raise TaskError(f"features go to {features_dir}, but they are written "
                    "with local file operations; pass --features_dir=<a "
                    "local directory>")


def _features_dir(params: SquadParams) -> str:
  return params.features_dir or os.path.join(params.model_dir, FEATURES_DIR)


def predict_files(params: SquadParams) -> dict[str, str]:
  """Language -> evaluation file, each of which must exist.

  `predict_file` with `{lang}` gives one file per `predict_languages` entry
  (every `{lang}` replaced: MLQA's `dev-context-{lang}-question-{lang}.json`
  works); a plain path is one language, the single `predict_languages` entry
  or "en".
  """
  pattern, languages = params.predict_file, list(params.predict_languages)
  if LANG in pattern:
    if not languages:
      raise TaskError(f"--predict_file={pattern} has a {LANG} placeholder; "
                      "list the languages with --predict_languages=en,de,...")
  elif len(languages) > 1:
    raise TaskError(f"--predict_file={pattern} is one file (no {LANG} "
                    f"placeholder) but --predict_languages names "
                    f"{len(languages)} languages; use a {LANG} pattern")
  languages = languages or ["en"]
  bad = [l for l in languages if not _LANGUAGE_CODE.match(l)]
  if bad or len(set(languages)) != len(languages):
    raise TaskError(f"--predict_languages={','.join(languages)}: language "
                    "codes must be distinct letters, digits, - or _")
  files = {lang: pattern.replace(LANG, lang) for lang in languages}
  for lang, path in files.items():
    if not os.path.isfile(path):
      raise TaskError(f"--predict_file={pattern}: {path} (language {lang}) "
                      "not found; fix the path or drop the language from "
                      "--predict_languages")
  return files


def load_vocab(params: SquadParams,
               config: RemBertConfig) -> sentencepiece_vocab.Vocab:
  """The SentencePiece model, which must be the one the config's encoder
  was pre-trained with (vocabulary size, pad, [CLS] and [SEP] ids)."""
  try:
    vocab = sentencepiece_vocab.load_vocab(params.sp_model_file)
  except DataPrepError as e:
    raise TaskError(str(e)) from None
  try:
    tokenizer.check_vocabulary(vocab.processor,
                               f"--sp_model_file={params.sp_model_file}",
                               config, f"--config_file={params.config_file}")
  except ValueError as e:
    raise TaskError(str(e)) from None
  return vocab


_OTHER = {"sentencepiece": "another SentencePiece model",
          "source": "another version of the input file",
          "is_training": "made for the other use (training / prediction)"}


def _differences(meta: dict[str, Any], want: dict[str, Any]) -> list[str]:
  """What differs between a features directory's metadata and this run."""
  have = {"settings": meta.get("settings", {}),
          "sentencepiece": meta.get("sentencepiece", {}).get("sha256"),
          "source": meta.get("source", {}).get("sha256"),
          "is_training": meta.get("is_training")}
  out = [f"{name} {have['settings'].get(name)!r} (now {value!r})"
         for name, value in want["settings"].items()
         if have["settings"].get(name) != value]
  out += [text for name, text in _OTHER.items() if have[name] != want[name]]
  return out or ["incomplete or unreadable metadata"]


def _check_feature_cache(jobs: list[tuple[str, bool, str]],
                         vocab: sentencepiece_vocab.Vocab,
                         settings: squad_features.FeatureSettings,
                         overwrite: bool) -> None:
  """Refuses, before any is prepared, features made with other settings."""
  if overwrite:
    return
  for json_path, is_training, output_dir in jobs:
    directory = squad_features.features_dir(output_dir, json_path)
    if not os.path.exists(directory):
      continue
    key = squad_features.cache_key(json_path, vocab, settings, is_training)
    try:
      meta = squad_features.read_features_metadata(directory)
    except file_io.MetadataError:
      meta = {}
    if meta.get("cache_key") == key:
      continue
    want = {"settings": settings.as_dict(), "sentencepiece": vocab.sha256,
            "source": sentencepiece_vocab.file_sha256(json_path),
            "is_training": is_training}
    raise TaskError(
        f"{directory} holds features of other settings or input: "
        f"{'; '.join(_differences(meta, want))}. Checkpoints in --model_dir "
        "may have been trained on them: use another --model_dir (or "
        "--features_dir), or pass --overwrite_features to prepare them again")


def _prepare(params: SquadParams, vocab: sentencepiece_vocab.Vocab,
             config: RemBertConfig, jobs: list[tuple[str, bool, str]]
             ) -> list[squad_features.PreparedFeatures]:
  settings = params.feature_settings()
  _check_feature_cache(jobs, vocab, settings, params.overwrite_features)
  prepared = []
  for json_path, is_training, output_dir in jobs:
    features = squad_features.prepare_squad_features(
        json_path, vocab, settings, output_dir, is_training,
        overwrite=params.overwrite_features)
    squad_features.validate_features(
        features.metadata, features.directory,
        max_seq_length=params.max_seq_length, vocab_size=config.vocab_size,
        special_ids=config.special_ids(), is_training=is_training)
    prepared.append(features)
  return prepared


def _split_name(pattern: str) -> str:
  """`dev-{lang}.json` -> "dev": the table's column label."""
  name = os.path.basename(pattern)
  name = re.sub(r"[-_.]*\{lang\}.*", "", name)
  return re.sub(r"\.json$", "", name) or "eval"


def _predictor(trainer: Trainer,
               jit_compile: bool) -> evaluation.ExactPredictor:
  """Start/end logits and unique id per feature, traced once for all files."""
  model = trainer.model

  def predict(batch):
    outputs = model(batch, training=False)
    return {"start_logits": outputs["start_logits"],
            "end_logits": outputs["end_logits"],
            squad_input.UNIQUE_ID: batch[squad_input.UNIQUE_ID]}
  return evaluation.ExactPredictor(trainer.strategy, predict, jit_compile)


def _predict_logits(predictor: evaluation.ExactPredictor, params: SquadParams,
                    features: squad_features.PreparedFeatures
                    ) -> dict[str, Any]:
  """The logits of every feature of one file, each exactly once."""
  num_read = evaluation.count_records(features.tfrecord)
  if num_read != features.num_features:
    raise TaskError(f"{features.tfrecord}: read {num_read} features, "
                    f"metadata says {features.num_features}; prepare them "
                    "again (--overwrite_features)")
  return predictor(
      squad_input.padded_dataset(features.tfrecord, params.max_seq_length,
                                 params.eval_batch_size, num_read),
      num_read, features.tfrecord)


def _evaluate(trainer: Trainer, params: SquadParams,
              prepared: dict[str, squad_features.PreparedFeatures]
              ) -> dict[str, Any]:
  """Predictions, n-best and EM/F1 per language; the table in the log."""
  scores = {}
  predictor = _predictor(trainer, params.jit_compile)
  for lang, features in prepared.items():
    logits = _predict_logits(predictor, params, features)
    eval_features = squad_features.load_eval_features(features.directory)
    result = squad_postprocess.postprocess(
        eval_features, logits[squad_input.UNIQUE_ID], logits["start_logits"],
        logits["end_logits"], n_best_size=params.n_best_size,
        max_answer_length=params.max_answer_length,
        version_2_with_negative=params.version_2_with_negative,
        null_score_diff_threshold=params.null_score_diff_threshold)
    if trainer.is_chief:
      squad_postprocess.write_prediction_files(
          os.path.join(params.model_dir, PREDICTIONS_DIR, lang), result)
    scores[lang] = squad_metrics.evaluate(
        eval_features.gold(), result.predictions,
        language=lang if params.eval_normalization == "mlqa" else None,
        version_2_with_negative=params.version_2_with_negative)
  split = _split_name(params.predict_file)
  logging.info("zero-shot %s EM/F1 (%s normalisation):\n%s", split,
               params.eval_normalization,
               squad_metrics.results_table(split, scores))
  return {"split": split, "normalization": params.eval_normalization,
          "languages": scores, "average": squad_metrics.average(scores)}


def _data_counts(features: squad_features.PreparedFeatures) -> dict[str, Any]:
  counts = features.metadata["counts"]
  return {"file": features.metadata["source"]["file"],
          "questions": counts["questions_read"],
          "examples": counts["examples"], "features": counts["features"],
          "skipped": {k: v for k, v in counts["skipped"].items() if v},
          "truncated_questions": counts["truncated_questions"]}


def run_squad(params: SquadParams) -> dict[str, Any]:
  """Trains (or resumes), predicts and scores every language, exports;
  returns the results, also written to `model_dir/eval_results.json`."""
  pretraining_config, config = harness.load_configs(params)
  _check_params(params)
  vocab = load_vocab(params, pretraining_config)
  files = predict_files(params) if params.do_eval else {}
  if params.do_train and not os.path.isfile(params.train_file):
    raise TaskError(f"--train_file={params.train_file} not found")
  features_dir = _features_dir(params)
  # The evaluation files first: usually small, so a bad one fails early.
  jobs = [(path, False, os.path.join(features_dir, "predict", lang))
          for lang, path in files.items()]
  if params.do_train:
    jobs.append((params.train_file, True, os.path.join(features_dir, "train")))
  prepared = _prepare(params, vocab, pretraining_config, jobs)
  evals = dict(zip(files, prepared))
  train = prepared[len(files)] if params.do_train else None
  num_train_steps = (harness.num_train_steps(params, train.num_features)
                     if train else 1)
  trainer = harness.build_trainer(
      params,
      lambda: squad_model.build_span_labeler(config, params.max_seq_length),
      squad_model.span_loss, num_train_steps,
      accuracy_name="train_span_accuracy")
  counts = harness.log_parameter_counts(
      pretraining_config, config, squad_model.head_params(config),
      pooler=False)
  harness.initialize(trainer, params)
  results: dict[str, Any] = {
      "task": "squad", "parameters": counts,
      "data": {"train": _data_counts(train) if train else None,
               "predict": {l: _data_counts(f) for l, f in evals.items()}}}
  if train:
    logging.info("%s: %d questions, %d features; %d steps of %d, %s replicas",
                 params.train_file, train.num_examples, train.num_features,
                 num_train_steps, params.train_batch_size,
                 trainer.strategy.num_replicas_in_sync)
    results["num_train_steps"] = num_train_steps
    results["train"] = trainer.train(task_input.train_dataset_fn(
        train.tfrecord, squad_input.parse_fn(params.max_seq_length),
        params.train_batch_size, params.seed))
    results.update(trainer.traces())
  results["step"] = trainer.global_step
  if evals:
    results["eval"] = _evaluate(trainer, params, evals)
  if params.do_export and trainer.is_chief:
    results["saved_model"] = squad_export.export_span_labeler(
        trainer.model, vocab, params.answer_settings(),
        os.path.join(params.model_dir, EXPORT_DIR))
  harness.finish(trainer, config, os.path.join(params.model_dir,
                                                 RESULTS_FILE), results)
  return results
