r"""NER (WikiANN / PAN-X) and POS (Universal Dependencies) fine-tuning with
zero-shot cross-lingual evaluation: the paper's structured-prediction tasks.

  python create_tagging_data.py --task=panx --data_dir=download/panx \
      --sp_model_file=rembert/sentencepiece.model --output_dir=data/panx
  python run_tagging.py --flagfile=flags/panx_rembert.flags \
      --init_checkpoint=gs://bucket/rembert/ckpt-1760000 \
      --data_dir=data/panx --model_dir=gs://bucket/panx --tpu=NAME

Trains on the English training set, then reports every language's score
(NER: entity F1; POS: word accuracy, XTREME's POS F1) and their average (a
table in the log, `model_dir/eval_results.json`), writes
`model_dir/predictions/<split>-<lang>.tsv` (word, gold and predicted tag, a
blank line between sentences) and a raw-sentence SavedModel in
`model_dir/saved_model` (plus `saved_model_token_ids`). Restarting the same
command resumes from the latest checkpoint in --model_dir.
--num_layers_to_keep=k fine-tunes only the bottom k pre-trained layers (paper
section 6.2).
"""

from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from rembert_tf.tasks.errors import TaskError
from rembert_tf.tasks.tagging import run as tagging_training
from rembert_tf.training import common_flags

common_flags.define_flags(tagging_training.TaggingParams, {
    "data_dir": "Output directory of create_tagging_data.py.",
    "model_dir": "Checkpoints, results, predictions and the SavedModels.",
    "init_checkpoint": "Pre-training checkpoint (model_dir/ckpt-N) or encoder "
                       "export (model_dir/encoder/encoder-N); unused when "
                       "--model_dir already holds a checkpoint.",
    "eval_batch_size": "Global evaluation batch of windows (the last one "
                       "padded).",
    "eval_splits": "Splits to evaluate, every prepared language of each.",
    "seed": "Head initialisation and input-order seed.",
})

# --helpshort lists them as this script's own.
flags.adopt_module_key_flags(common_flags)


def main(argv: Sequence[str]) -> None:
  common_flags.run_main(argv, "run_tagging.py", tagging_training.run_tagging,
                        tagging_training.TaggingParams, (TaskError,))


if __name__ == "__main__":
  app.run(main)
