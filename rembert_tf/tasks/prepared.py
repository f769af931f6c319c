"""What the tasks whose data a `create_*_data.py` script prepares share
(classification, tagging): the script's flags and main, the checks and
metadata of the directory it writes, and the run that reads it.

Such data depends only on the task's files, the SentencePiece model and
--max_seq_length, so one prepared directory serves every run of a sweep and
can be read from a bucket by a TPU job (QA instead prepares its windows in its
run: they depend on run flags such as --doc_stride). A directory holds the
TFRecords, a copy of the SentencePiece model (the SavedModel's tokenizer) and
`metadata.json`, and appears only when complete. The run checks it against
the config and flags before the first step, trains on the shared harness,
evaluates every language, exports, and writes the results.
"""

import contextlib
import dataclasses
import os
import shutil
import sys
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf
import tf_keras

from rembert_tf import file_io
from rembert_tf.data import input_pipeline
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data.errors import DataPrepError
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks import harness
from rembert_tf.tasks import inputs as task_input
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training.params import FinetuningParams
from rembert_tf.training.train_step import LossFn
from rembert_tf.training.trainer import Trainer

SP_MODEL_FILE = "sentencepiece.model"
TRAIN_SPLIT = "train"
RESULTS_FILE = "eval_results.json"
PREDICTIONS_DIR = "predictions"
EXPORT_DIR = "saved_model"
# Flags every data-prep script passes on by name, after the four positional.
_PREP_KEYWORDS = ("max_seq_length", "languages", "labels", "eval_splits",
                  "train_language", "overwrite")


def define_prep_flags(tasks: Sequence[str], eval_splits: Sequence[str],
                      helps: Mapping[str, str]) -> None:
  """The flags every data-prep script has; `helps` gives the script's text
  for "task", "data_dir", "max_seq_length" and "labels"."""
  flags.DEFINE_enum("task", None, tasks, helps["task"])
  flags.DEFINE_string("data_dir", None, helps["data_dir"])
  flags.DEFINE_string("sp_model_file", None,
                      "The encoder's SentencePiece model.")
  flags.DEFINE_string("output_dir", None, "Where the TFRecords go (created).")
  flags.DEFINE_integer("max_seq_length", 128, helps["max_seq_length"])
  flags.DEFINE_list("languages", None, "Evaluation languages; default the "
                    "task's XTREME languages.")
  flags.DEFINE_list("labels", None, helps["labels"])
  flags.DEFINE_list("eval_splits", list(eval_splits),
                    "Evaluation splits to prepare (dev, test).")
  flags.DEFINE_string("train_language", "en", "Language of the training file.")
  flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.")
  flags.mark_flags_as_required(["task", "data_dir", "sp_model_file",
                                "output_dir"])


def prep_main(argv: Sequence[str], script: str,
              prepare: Callable[..., dict[str, Any]],
              summarize: Callable[[dict[str, Any], str], str],
              extra_flags: Sequence[str] = ()) -> None:
  """A data-prep script's main: `prepare(task, data_dir, sp_model_file,
  output_dir, **the other flags)`, then its summary; a TaskError is one line
  on stderr and exit status 1."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  values = flags.FLAGS
  try:
    meta = prepare(values.task, values.data_dir, values.sp_model_file,
                   values.output_dir, **{name: values[name].value for name in
                                         _PREP_KEYWORDS + tuple(extra_flags)})
  except TaskError as e:
    print(f"{script}: error: {e}", file=sys.stderr)
    sys.exit(1)
  print(summarize(meta, values.output_dir))


def plan_files(task: str, task_languages: Mapping[str, Sequence[str]], *,
               languages: Optional[Sequence[str]],
               eval_splits: Sequence[str], known_splits: Sequence[str],
               train_language: str, max_seq_length: int,
               min_seq_length: int) -> list[tuple[str, str]]:
  """(split, language) of every file to prepare, the training file first;
  the flags that cannot work are a TaskError."""
  if languages is None:
    if task not in task_languages:
      raise TaskError(f"--task={task} needs --languages")
    languages = task_languages[task]
  unknown = [s for s in eval_splits if s not in known_splits]
  if unknown or max_seq_length < min_seq_length:
    raise TaskError(f"--eval_splits must be among {tuple(known_splits)} (got "
                    f"{list(eval_splits)}) and --max_seq_length at least "
                    f"{min_seq_length} (got {max_seq_length})")
  return [(TRAIN_SPLIT, train_language)] + [
      (split, lang) for split in eval_splits for lang in languages]


def load_vocab(sp_model_file: str) -> sentencepiece_vocab.Vocab:
  """The SentencePiece model; a bad one is a TaskError."""
  try:
    return sentencepiece_vocab.load_vocab(sp_model_file)
  except DataPrepError as e:
    raise TaskError(str(e)) from None


def check_output_dir(output_dir: str, overwrite: bool) -> None:
  if os.path.exists(output_dir) and not overwrite:
    raise TaskError(f"--output_dir={output_dir} already exists; pass "
                    "--overwrite to replace it")


def write_metadata(directory: str, *, fmt: str, version: int, script: str,
                   vocab: sentencepiece_vocab.Vocab,
                   values: Mapping[str, Any]) -> dict[str, Any]:
  """Copies the SentencePiece model into `directory` and writes its
  `metadata.json` (the header, `values`, the model's ids); returns it."""
  shutil.copyfile(vocab.path, os.path.join(directory, SP_MODEL_FILE))
  meta = {**file_io.metadata_header(fmt, version, script), **values,
          "sentencepiece": {"model_file": SP_MODEL_FILE,
                            "source": os.path.abspath(vocab.path),
                            "sha256": vocab.sha256,
                            "vocab_size": vocab.vocab_size,
                            "special_ids": vocab.special.as_dict()}}
  file_io.write_json(os.path.join(directory, file_io.METADATA_FILE), meta)
  return meta


def read_metadata(data_dir: str, fmt: str, version: int,
                  script: str) -> dict[str, Any]:
  """Reads and format-checks `<data_dir>/metadata.json` (local or remote)."""
  return file_io.read_metadata(
      data_dir, fmt, version,
      written_by=f"an --output_dir of {script} (--data_dir)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PreparedDataParams(FinetuningParams):
  """The flags of a run on a prepared directory."""
  data_dir: str
  eval_splits: Sequence[str] = ("dev",)


def _check_files(meta: Mapping[str, Any], params: PreparedDataParams,
                 script: str) -> None:
  """Every file the run will read exists, before anything starts."""
  wanted = ([TRAIN_SPLIT] if params.do_train else []) + (
      list(params.eval_splits) if params.do_eval else [])
  for split in wanted:
    if split not in meta["files"]:
      raise TaskError(f"{params.data_dir} has no {split} split (prepared: "
                      f"{sorted(meta['files'])}); see --eval_splits")
    for lang, info in meta["files"][split].items():
      if not tf.io.gfile.exists(os.path.join(params.data_dir, info["file"])):
        raise TaskError(f"{params.data_dir}: {info['file']} ({split}, {lang}) "
                        f"is missing; re-run {script}")


@contextlib.contextmanager
def reading(path: str, script: str) -> Iterator[None]:
  """Names `path`, the one file being read, in a DataLossError (TensorFlow's
  names no file) and says how to replace it (`script` writes it)."""
  try:
    yield
  except tf.errors.DataLossError as e:
    raise TaskError(f"{path}: {input_pipeline.data_loss_reason(e)}: the file "
                    f"is truncated or corrupt; re-run {script} to write it "
                    "again") from None


@dataclasses.dataclass(frozen=True)
class Task:
  """What a task brings to `run`.

  Attributes:
    script: the data-prep script, named in every fix.
    fmt: the metadata format it writes; `version` its version.
    train_count: the training file's count (in the metadata) that an epoch
      passes over ("examples", "windows").
    build_model: (config, num_labels, seq_length) -> a built model.
    loss_fn: the training loss.
    parse_fn: seq_length -> the training records' parser.
    head_params: (config, num_labels) -> the head's parameter count.
    pooler: whether the head reads the pooled output.
    accuracy_name: the training accuracy's name in the log and results.
    evaluate: (trainer, params, meta) -> the "eval" results; it writes the
      predictions (the chief only).
    export: (model, sp_model_file, seq_length, special_ids, labels,
      export_dir) -> the SavedModels' paths.
  """
  script: str
  fmt: str
  version: int
  train_count: str
  build_model: Callable[[RemBertConfig, int, int], tf_keras.Model]
  loss_fn: LossFn
  parse_fn: Callable[[int], task_input.ParseFn]
  head_params: Callable[[RemBertConfig, int], int]
  pooler: bool
  accuracy_name: str
  evaluate: Callable[[Trainer, Any, dict[str, Any]], dict[str, Any]]
  export: Callable[..., dict[str, str]]


def run(task: Task, params: PreparedDataParams) -> dict[str, Any]:
  """Checks everything, trains (or resumes), evaluates every language and
  exports; returns the results, also written to `model_dir/eval_results.json`.
  """
  pretraining_config, config = harness.load_configs(params)
  meta = read_metadata(params.data_dir, task.fmt, task.version, task.script)
  file_io.check_prepared_for(
      meta, params.data_dir, max_seq_length=params.max_seq_length,
      vocab_size=pretraining_config.vocab_size,
      special_ids=pretraining_config.special_ids(),
      fix=f"Re-run {task.script} with matching settings.")
  _check_files(meta, params, task.script)
  num_labels = len(meta["labels"])
  (train_lang, train_info), = meta["files"][TRAIN_SPLIT].items()
  num_train_steps = harness.num_train_steps(params,
                                            train_info[task.train_count])
  trainer = harness.build_trainer(
      params,
      lambda: task.build_model(config, num_labels, params.max_seq_length),
      task.loss_fn, num_train_steps, accuracy_name=task.accuracy_name)
  counts = harness.log_parameter_counts(
      pretraining_config, config, task.head_params(config, num_labels),
      pooler=task.pooler)
  harness.initialize(trainer, params)
  logging.info("%s: %d train %s (%s), %d steps of %d, %s replicas",
               meta["task"], train_info[task.train_count], task.train_count,
               train_lang, num_train_steps, params.train_batch_size,
               trainer.strategy.num_replicas_in_sync)
  results: dict[str, Any] = {"task": meta["task"], "parameters": counts,
                             "num_train_steps": num_train_steps}
  if params.do_train:
    train_file = os.path.join(params.data_dir, train_info["file"])
    with reading(train_file, task.script):
      results["train"] = trainer.train(task_input.train_dataset_fn(
          train_file, task.parse_fn(params.max_seq_length),
          params.train_batch_size, params.seed))
    results.update(trainer.traces())
  results["step"] = trainer.global_step
  if params.do_eval:
    results["eval"] = task.evaluate(trainer, params, meta)
  if params.do_export and trainer.is_chief:
    results["saved_model"] = task.export(
        trainer.model,
        os.path.join(params.data_dir, meta["sentencepiece"]["model_file"]),
        params.max_seq_length, meta["sentencepiece"]["special_ids"],
        meta["labels"], os.path.join(params.model_dir, EXPORT_DIR))
  harness.finish(trainer, config, os.path.join(params.model_dir, RESULTS_FILE),
                 results)
  return results
