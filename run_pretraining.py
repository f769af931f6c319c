r"""MLM pre-training of RemBERT on TPU, GPU or CPU.

  python run_pretraining.py --flagfile=flags/rembert_pretraining.flags \
      --input_dir=gs://bucket/mlm_data --model_dir=gs://bucket/rembert --tpu=NAME

Restarting the same command resumes from the latest checkpoint in --model_dir
(model, optimizer, step and input position). --init_checkpoint is different: it
loads weights only, with a fresh optimizer at step 0, and is ignored once
--model_dir holds a checkpoint. The log says which of the two happened.
"""

import dataclasses
import json
import os
import sys
from typing import Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from rembert_tf.configs import ConfigError
from rembert_tf.data.metadata import MetadataError
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.training import distribution
from rembert_tf.training import pretraining

_DEFAULTS = pretraining.PretrainingParams(config_file="", input_dir="",
                                          model_dir="")
flags.DEFINE_string("config_file", None,
                    "config.json path, or a shipped config name (e.g. rembert).")
flags.DEFINE_string("input_dir", None,
                    "Output directory of create_pretraining_data.py (TFRecord "
                    "shards + metadata.json).")
flags.DEFINE_string("eval_input_dir", None,
                    "Held-out data-prep output, evaluated at each checkpoint.")
flags.DEFINE_string("model_dir", None,
                    "Checkpoints, summaries, encoder export and metrics.json.")
flags.DEFINE_string("init_checkpoint", None,
                    "Weights to start from (fresh optimizer, step 0); unused "
                    "when model_dir already holds a checkpoint.")
flags.DEFINE_integer("train_batch_size", _DEFAULTS.train_batch_size,
                     "Global batch size, split evenly over replicas.")
flags.DEFINE_integer("eval_batch_size", _DEFAULTS.eval_batch_size,
                     "Global evaluation batch size.")
flags.DEFINE_integer("max_seq_length", _DEFAULTS.max_seq_length,
                     "Must equal the data's (checked against its metadata).")
flags.DEFINE_integer("max_predictions_per_seq",
                     _DEFAULTS.max_predictions_per_seq,
                     "Must equal the data's (checked against its metadata).")
flags.DEFINE_integer("num_train_steps", _DEFAULTS.num_train_steps,
                     "Total optimizer steps.")
flags.DEFINE_integer("num_warmup_steps", _DEFAULTS.num_warmup_steps,
                     "Linear warmup steps before linear decay to 0.")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Peak rate.")
flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay,
                   "AdamW decay (not on LayerNorm weights or biases).")
flags.DEFINE_float("adam_beta_1", _DEFAULTS.adam_beta_1, "Adam beta 1.")
flags.DEFINE_float("adam_beta_2", _DEFAULTS.adam_beta_2, "Adam beta 2.")
flags.DEFINE_float("adam_epsilon", _DEFAULTS.adam_epsilon, "Adam epsilon.")
flags.DEFINE_float("clip_norm", _DEFAULTS.clip_norm,
                   "Global-norm clip, applied after the cross-replica sum.")
flags.DEFINE_integer("steps_per_loop", _DEFAULTS.steps_per_loop,
                     "Steps per host call; also the logging interval.")
flags.DEFINE_integer("save_checkpoints_steps", _DEFAULTS.save_checkpoints_steps,
                     "Checkpoint (and evaluation) interval in steps.")
flags.DEFINE_integer("keep_checkpoint_max", _DEFAULTS.keep_checkpoint_max,
                     "Checkpoints kept in model_dir.")
flags.DEFINE_integer("eval_steps", _DEFAULTS.eval_steps,
                     "Batches per evaluation.")
flags.DEFINE_enum("distribution_strategy", _DEFAULTS.distribution_strategy,
                  distribution.STRATEGIES,
                  "auto: TPU with --tpu, multi-worker with TF_CONFIG, all "
                  "local GPUs, else one device.")
flags.DEFINE_string("tpu", None, "TPU name or address ('local' on a TPU VM).")
flags.DEFINE_enum("dtype", _DEFAULTS.dtype, ["float32", "bfloat16"],
                  "bfloat16 = mixed_bfloat16 (LayerNorm, logits, loss float32).")
flags.DEFINE_bool("jit_compile", _DEFAULTS.jit_compile,
                  "XLA-compile the train loop (TPUs always compile).")
flags.DEFINE_integer("seed", _DEFAULTS.seed,
                     "Initialisation and input-order seed.")
flags.mark_flags_as_required(["config_file", "input_dir", "model_dir"])

FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  params = pretraining.PretrainingParams(**{
      field.name: FLAGS[field.name].value
      for field in dataclasses.fields(pretraining.PretrainingParams)})
  tf.io.gfile.makedirs(params.model_dir)
  try:
    results = pretraining.run_pretraining(params)
  except (ConfigError, MetadataError, CheckpointMismatchError,
          distribution.StrategyError, pretraining.PretrainingError) as e:
    logging.error("%s", e)
    print(f"run_pretraining.py: error: {e}", file=sys.stderr)
    sys.exit(1)
  print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
