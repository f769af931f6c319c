"""Settings every training run shares, and the checks that name the bad flag.

Pre-training and each fine-tuning task extend `TrainingParams` with their own
fields; the command-line scripts define one flag per field with the same name
(`common_flags`), so a field, its flag and its error message never disagree.
"""

import dataclasses
from typing import Optional

from rembert_tf import file_io

# --dtype -> the Keras policy. Variables stay float32 under all three; float16
# (for GPUs without bfloat16) also scales the loss (`Trainer`).
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16",
            "float16": "mixed_float16"}
DTYPES = tuple(POLICIES)


class TrainingParamsError(ValueError):
  """A flag value that cannot work; the message names the flag."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingParams:
  """Optimizer, loop, checkpoint and device settings (flags of the same names)."""
  model_dir: str
  init_checkpoint: Optional[str] = None
  train_batch_size: int = 32
  learning_rate: float = 2e-4
  weight_decay: float = 0.01
  adam_beta_1: float = 0.9
  adam_beta_2: float = 0.999
  adam_epsilon: float = 1e-6
  clip_norm: float = 1.0
  steps_per_loop: int = 100
  save_checkpoints_steps: int = 1000
  keep_checkpoint_max: int = 5
  distribution_strategy: str = "auto"
  tpu: Optional[str] = None
  dtype: str = "float32"
  jit_compile: bool = False
  gradient_accumulation_steps: int = 1
  recompute_layers: bool = False
  seed: int = 12345


def check_positive(params: object, *names: str) -> None:
  """Each named integer field must be at least 1."""
  for name in names:
    value = getattr(params, name)
    if value is not None and value < 1:
      raise TrainingParamsError(f"--{name} must be at least 1, got {value}")


def check_training_params(params: TrainingParams) -> None:
  """Flag values that cannot work, named by flag, before anything is built."""
  check_positive(params, "train_batch_size", "steps_per_loop",
                 "save_checkpoints_steps", "keep_checkpoint_max",
                 "gradient_accumulation_steps")
  if params.learning_rate <= 0 or params.clip_norm <= 0:
    raise TrainingParamsError(
        f"--learning_rate ({params.learning_rate}) and --clip_norm "
        f"({params.clip_norm}) must be positive")
  if params.dtype not in DTYPES:
    raise TrainingParamsError(
        f"--dtype={params.dtype!r}: use one of {', '.join(DTYPES)}")
  blocker = file_io.blocking_file(params.model_dir)
  if blocker:
    raise TrainingParamsError(
        f"--model_dir={params.model_dir}: {blocker} is a file, not a "
        "directory; pass a directory (it is created if missing)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinetuningParams(TrainingParams):
  """Settings every fine-tuning task adds (the paper's Tables 10 and 15)."""
  config_file: str
  num_layers_to_keep: Optional[int] = None
  learning_rate: float = 2e-5
  keep_checkpoint_max: int = 2
  max_seq_length: int = 128
  eval_batch_size: int = 32
  num_train_epochs: float = 3.0
  warmup_proportion: float = 0.1
  do_train: bool = True
  do_eval: bool = True
  do_export: bool = True


def check_finetuning_params(params: FinetuningParams) -> None:
  """Flag values that cannot work, named by flag."""
  check_training_params(params)
  check_positive(params, "eval_batch_size", "max_seq_length",
                 "num_layers_to_keep")
  if params.num_train_epochs <= 0 or not 0 <= params.warmup_proportion < 1:
    raise TrainingParamsError(
        f"--num_train_epochs ({params.num_train_epochs}) must be positive and "
        f"--warmup_proportion ({params.warmup_proportion}) in [0, 1)")
