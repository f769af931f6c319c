r"""MLM pre-training of RemBERT on TPU, GPU or CPU.

  python run_pretraining.py --flagfile=flags/rembert_pretraining.flags \
      --input_dir=gs://bucket/mlm_data --model_dir=gs://bucket/rembert --tpu=NAME

Restarting the same command resumes from the latest checkpoint in --model_dir
(model, optimizer, step and input position). --init_checkpoint is different: it
loads weights only, with a fresh optimizer at step 0, and is ignored once
--model_dir holds a checkpoint. The log says which of the two happened.
"""

from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from rembert_tf.training import common_flags
from rembert_tf.pretraining import run as pretraining

common_flags.define_flags(pretraining.PretrainingParams, {
    "config_file": "config.json path, or a shipped config name (e.g. rembert).",
    "input_dir": "Output directory of create_pretraining_data.py (TFRecord "
                 "shards + metadata.json).",
    "eval_input_dir": "Held-out data-prep output, evaluated at each "
                      "checkpoint.",
    "model_dir": "Checkpoints, summaries, encoder export and metrics.json.",
    "init_checkpoint": "Weights to start from (fresh optimizer, step 0); "
                       "unused when model_dir already holds a checkpoint.",
    "max_predictions_per_seq": "Must equal the data's (checked against its "
                               "metadata).",
    "num_train_steps": "Total optimizer steps.",
    "num_warmup_steps": "Linear warmup steps before linear decay to 0.",
    "save_checkpoints_steps": "Checkpoint (and evaluation) interval in steps.",
    "eval_steps": "Batches per evaluation.",
})

# --helpshort lists them as this script's own.
flags.adopt_module_key_flags(common_flags)


def main(argv: Sequence[str]) -> None:
  common_flags.run_main(
      argv, "run_pretraining.py", pretraining.run_pretraining,
      pretraining.PretrainingParams,
      (pretraining.PretrainingError,))


if __name__ == "__main__":
  app.run(main)
