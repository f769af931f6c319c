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

from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from rembert_tf.tasks.classification import run as classifier_training
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training import common_flags

common_flags.define_flags(classifier_training.ClassifierParams, {
    "data_dir": "Output directory of create_classifier_data.py.",
    "model_dir": "Checkpoints, results, predictions and the SavedModel.",
    "init_checkpoint": "Pre-training checkpoint (model_dir/ckpt-N) or encoder "
                       "export (model_dir/encoder/encoder-N); unused when "
                       "--model_dir already holds a checkpoint.",
    "eval_batch_size": "Global evaluation batch (the last one padded).",
    "eval_splits": "Splits to evaluate, every prepared language of each.",
    "seed": "Head initialisation and input-order seed.",
})

# --helpshort lists them as this script's own.
flags.adopt_module_key_flags(common_flags)


def main(argv: Sequence[str]) -> None:
  common_flags.run_main(
      argv, "run_classifier.py", classifier_training.run_classifier,
      classifier_training.ClassifierParams, (TaskError,))


if __name__ == "__main__":
  app.run(main)
