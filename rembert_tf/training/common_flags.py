"""Command-line flags from the params dataclasses, and the scripts' main.

Every field of a script's params dataclass becomes one absl flag of the same
name, type and default, so `run_pretraining.py`, `run_classifier.py` and
`run_squad.py` share their training flags (and their help) instead of each
redefining them. Fields shared by all runs have their help here; a script adds
the help of its own fields.
"""

import collections.abc
import dataclasses
import json
import sys
import typing
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

from absl import app
from absl import flags
from absl import logging

from rembert_tf.file_io import MetadataError
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.config import ConfigError
from rembert_tf.training import distribution
from rembert_tf.training import params as params_lib

SHARED_HELP = {
    "model_dir": "Checkpoints, summaries and results; a run started again "
                 "with the same command resumes from its latest checkpoint.",
    "config_file": "config.json path, or a shipped config name (e.g. rembert) "
                   "of the pre-trained model.",
    "train_batch_size": "Global batch size, split evenly over replicas.",
    "eval_batch_size": "Global evaluation batch size.",
    "learning_rate": "Peak learning rate (linear warmup, then linear decay "
                     "to 0).",
    "weight_decay": "AdamW decay (not on LayerNorm weights or biases).",
    "adam_beta_1": "Adam beta 1.",
    "adam_beta_2": "Adam beta 2.",
    "adam_epsilon": "Adam epsilon.",
    "clip_norm": "Global-norm clip, applied after the cross-replica sum.",
    "steps_per_loop": "Steps per host call; also the logging interval.",
    "save_checkpoints_steps": "Checkpoint interval in steps.",
    "keep_checkpoint_max": "Checkpoints kept in model_dir.",
    "distribution_strategy": "auto: TPU with --tpu, multi-worker with "
                             "TF_CONFIG, all local GPUs, else one device.",
    "tpu": "TPU name or address ('local' on a TPU VM).",
    "dtype": "bfloat16 = mixed_bfloat16, float16 = mixed_float16 with "
             "dynamic loss scaling (for GPUs without bfloat16); LayerNorm, "
             "softmax, logits and loss stay float32, variables float32.",
    "gradient_accumulation_steps": "Micro-batches per optimizer step: each "
                                   "replica's share of --train_batch_size "
                                   "(still the effective batch) runs in this "
                                   "many forward and backward passes.",
    "recompute_layers": "Keep only each Transformer layer's input for the "
                        "backward pass and recompute the rest: far less "
                        "activation memory for about a third more compute.",
    "jit_compile": "XLA-compile the forward and backward pass, and "
                   "fine-tuning's prediction (TPUs always compile).",
    "seed": "Initialisation and input-order seed.",
    "gradient_accumulation_steps": "Micro-batches per optimizer step: the "
                                   "global --train_batch_size is split into "
                                   "this many, their summed gradient clipped "
                                   "and applied once (checkpoints at step "
                                   "boundaries).",
    "recompute_layers": "Recompute each Transformer layer's activations in "
                        "the backward pass instead of keeping them (less "
                        "memory, about a third more compute).",
    "max_seq_length": "Must equal the data's (checked against its metadata).",
    "num_layers_to_keep": "Fine-tune only the bottom k pre-trained layers "
                          "(paper section 6.2; default: all).",
    "num_train_epochs": "Passes over the training set.",
    "warmup_proportion": "Fraction of the steps with linear warmup.",
    "do_train": "Train (or resume).",
    "do_eval": "Evaluate every language and write predictions.",
    "do_export": "Write the SavedModel for serving.",
}
_ENUMS = {"distribution_strategy": distribution.STRATEGIES,
          "dtype": params_lib.DTYPES}
# Errors a user can fix: one line on stderr and exit 1, no traceback.
USER_ERRORS = (ConfigError, CheckpointMismatchError, MetadataError,
               distribution.StrategyError, params_lib.TrainingParamsError)

ParamsT = TypeVar("ParamsT")


def _base_type(annotation: Any) -> Any:
  """`Optional[int]` -> int; `Sequence[str]` -> list."""
  args = [a for a in typing.get_args(annotation) if a is not type(None)]
  if typing.get_origin(annotation) is typing.Union:
    return _base_type(args[0])
  if typing.get_origin(annotation) in (list, tuple, collections.abc.Sequence):
    return list
  return annotation


def parse_flag_value(annotation: Any, text: str) -> Any:
  """A flag's text (a flagfile's `--name=text`) as the params field of
  `annotation` gets it from the flag `define_flags` makes: absl's own parser
  for the field's type, lists as tuples."""
  parsers = {str: flags.ArgumentParser(), int: flags.IntegerParser(),
             float: flags.FloatParser(), bool: flags.BooleanParser(),
             list: flags.ListParser()}
  value = parsers[_base_type(annotation)].parse(text)
  return tuple(value) if isinstance(value, list) else value


def define_flags(params_class: type, helps: Mapping[str, str],
                 required: Sequence[str] = (),
                 enums: Optional[Mapping[str, Sequence[str]]] = None,
                 exclude: Sequence[str] = ()) -> None:
  """One flag per dataclass field, with the field's type and default.

  Help comes from `helps`, else from SHARED_HELP; a field with neither is a
  programming error. Fields without a default are required flags. A field
  named in `enums` (as in the shared ones) only takes the listed values.
  Fields in `exclude` get no flag: a tool that runs the script's code many
  times sets them itself (`params_from_flags(..., **values)`).
  """
  enums = {**_ENUMS, **(enums or {})}
  hints = typing.get_type_hints(params_class)
  definers = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
              float: flags.DEFINE_float, bool: flags.DEFINE_bool,
              list: flags.DEFINE_list}
  fields = [f for f in dataclasses.fields(params_class)
            if f.name not in exclude]
  for field in fields:
    help_text = helps.get(field.name, SHARED_HELP.get(field.name))
    if help_text is None:
      raise KeyError(f"no help for flag --{field.name}")
    default = (None if field.default is dataclasses.MISSING
               else field.default)
    if field.name in enums:
      flags.DEFINE_enum(field.name, default, enums[field.name], help_text)
      continue
    base = _base_type(hints[field.name])
    if base is list and default is not None:
      default = list(default)
    definers[base](field.name, default, help_text)
  missing = [f.name for f in fields if f.default is dataclasses.MISSING]
  flags.mark_flags_as_required(sorted(set(missing) | set(required)))


def params_from_flags(params_class: Callable[..., ParamsT],
                      **values: Any) -> ParamsT:
  """The params dataclass filled from the parsed flags (lists as tuples);
  `values` gives the fields that have no flag (`define_flags`' exclude)."""
  for field in dataclasses.fields(params_class):
    if field.name not in values:
      value = flags.FLAGS[field.name].value
      values[field.name] = tuple(value) if isinstance(value, list) else value
  return params_class(**values)


def run_main(argv: Sequence[str], script: str,
             run: Callable[[ParamsT], Mapping[str, Any]],
             params_class: Callable[..., ParamsT],
             extra_errors: tuple[type[Exception], ...] = ()) -> None:
  """A script's main: `run` on the params from the flags; prints its results
  as JSON, or one error line and exits 1 for an error the user can fix."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    results = run(params_from_flags(params_class))
  except USER_ERRORS + extra_errors as e:
    logging.error("%s", e)
    print(f"{script}: error: {e}", file=sys.stderr)
    sys.exit(1)
  print(json.dumps(results, indent=2, sort_keys=True))
