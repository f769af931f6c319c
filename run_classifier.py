r"""XNLI / PAWS-X fine-tuning with zero-shot cross-lingual evaluation.

  python create_classifier_data.py --task=xnli --data_dir=download/xnli \
      --sp_model_file=rembert/sentencepiece.model --output_dir=data/xnli
  python run_classifier.py --flagfile=flags/xnli_rembert.flags \
      --config_file=rembert --init_checkpoint=gs://bucket/rembert/ckpt-1760000 \
      --data_dir=data/xnli --model_dir=gs://bucket/xnli --tpu=NAME

Trains on the English training set, then reports the accuracy of every
language and their average (a table in the log, `model_dir/eval_results.json`),
writes `model_dir/predictions/<split>-<lang>.tsv` and a raw-text SavedModel in
`model_dir/saved_model`. Restarting the same command resumes from the latest
checkpoint in --model_dir. --num_layers_to_keep=k fine-tunes only the bottom k
pre-trained layers (paper section 6.2).
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

from rembert_tf.configs import ConfigError
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.tasks import classifier_training
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training import distribution

_DEFAULTS = classifier_training.ClassifierParams(config_file="", data_dir="",
                                                 model_dir="")
flags.DEFINE_string("config_file", None,
                    "config.json path, or a shipped config name (e.g. rembert) "
                    "of the pre-trained model.")
flags.DEFINE_string("data_dir", None,
                    "Output directory of create_classifier_data.py.")
flags.DEFINE_string("model_dir", None,
                    "Checkpoints, results, predictions and the SavedModel.")
flags.DEFINE_string("init_checkpoint", None,
                    "Pre-training checkpoint (model_dir/ckpt-N) or encoder "
                    "export (model_dir/encoder/encoder-N); unused when "
                    "--model_dir already holds a checkpoint.")
flags.DEFINE_integer("num_layers_to_keep", None,
                     "Fine-tune only the bottom k layers (default: all).")
flags.DEFINE_integer("max_seq_length", _DEFAULTS.max_seq_length,
                     "Must equal the data's (checked against its metadata).")
flags.DEFINE_integer("train_batch_size", _DEFAULTS.train_batch_size,
                     "Global batch size, split evenly over replicas.")
flags.DEFINE_integer("eval_batch_size", _DEFAULTS.eval_batch_size,
                     "Global evaluation batch (the last one padded).")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Peak rate.")
flags.DEFINE_float("num_train_epochs", _DEFAULTS.num_train_epochs,
                   "Passes over the training set.")
flags.DEFINE_float("warmup_proportion", _DEFAULTS.warmup_proportion,
                   "Fraction of the steps with linear warmup.")
flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay,
                   "AdamW decay (not on LayerNorm weights or biases); Adam "
                   "betas 0.9, 0.999, epsilon 1e-6 as in BERT.")
flags.DEFINE_float("clip_norm", _DEFAULTS.clip_norm,
                   "Global-norm clip, applied after the cross-replica sum.")
flags.DEFINE_integer("steps_per_loop", _DEFAULTS.steps_per_loop,
                     "Steps per host call; also the logging interval.")
flags.DEFINE_integer("save_checkpoints_steps",
                     _DEFAULTS.save_checkpoints_steps, "Checkpoint interval.")
flags.DEFINE_integer("keep_checkpoint_max", _DEFAULTS.keep_checkpoint_max,
                     "Checkpoints kept in model_dir.")
flags.DEFINE_list("eval_splits", list(_DEFAULTS.eval_splits),
                  "Splits to evaluate, every prepared language of each.")
flags.DEFINE_bool("do_train", _DEFAULTS.do_train, "Train (or resume).")
flags.DEFINE_bool("do_eval", _DEFAULTS.do_eval,
                  "Evaluate and write predictions.")
flags.DEFINE_bool("do_export", _DEFAULTS.do_export,
                  "Write the raw-text SavedModel.")
flags.DEFINE_enum("distribution_strategy", _DEFAULTS.distribution_strategy,
                  distribution.STRATEGIES,
                  "auto: TPU with --tpu, multi-worker with TF_CONFIG, all "
                  "local GPUs, else one device.")
flags.DEFINE_string("tpu", None, "TPU name or address ('local' on a TPU VM).")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Head init and input-order seed.")
flags.mark_flags_as_required(["config_file", "data_dir", "model_dir"])

FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  values = {field.name: FLAGS[field.name].value
            for field in dataclasses.fields(classifier_training.ClassifierParams)}
  values["eval_splits"] = tuple(values["eval_splits"])
  try:
    results = classifier_training.run_classifier(
        classifier_training.ClassifierParams(**values))
  except (ConfigError, CheckpointMismatchError, TaskError,
          distribution.StrategyError) as e:
    logging.error("%s", e)
    print(f"run_classifier.py: error: {e}", file=sys.stderr)
    sys.exit(1)
  print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
