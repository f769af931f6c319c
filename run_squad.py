r"""Extractive QA (SQuAD format): fine-tune on English, evaluate every language.

XQuAD (fine-tune on SQuAD v1.1, evaluate the 11 XQuAD languages):

  python run_squad.py --flagfile=flags/squad_rembert.flags \
      --init_checkpoint=gs://bucket/rembert/ckpt-1760000 \
      --sp_model_file=rembert/sentencepiece.model \
      --train_file=squad/train-v1.1.json \
      --predict_file=xquad/xquad.{lang}.json \
      --predict_languages=en,es,de,el,ru,tr,ar,vi,th,zh,hi \
      --model_dir=gs://bucket/xquad --features_dir=/tmp/xquad --tpu=NAME

MLQA (the same fine-tuning; MLQA's language-aware answer normalisation):

  python run_squad.py --flagfile=flags/squad_rembert.flags \
      --init_checkpoint=gs://bucket/rembert/ckpt-1760000 \
      --sp_model_file=rembert/sentencepiece.model \
      --train_file=squad/train-v1.1.json \
      --predict_file=mlqa/dev/dev-context-{lang}-question-{lang}.json \
      --predict_languages=en,es,de,ar,hi,vi,zh --eval_normalization=mlqa \
      --model_dir=gs://bucket/mlqa --features_dir=/tmp/mlqa --tpu=NAME

Writes, under --model_dir: checkpoints (running the same command again
resumes), `predictions/<lang>/predictions.json` and `nbest_predictions.json`,
`eval_results.json` (EM/F1 per language and their average; the same table is
logged) and `saved_model/`, which answers raw (question, context) strings.
The prepared windows go to --features_dir (default model_dir/features, which
must then be local) and are reused while input and settings are the same.
--nodo_train evaluates the latest checkpoint of --model_dir again, replacing
its predictions and eval_results.json. --num_layers_to_keep=k fine-tunes only
the bottom k pre-trained layers (paper section 6.2).
"""

from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from rembert_tf.tasks.squad import run as squad_training
from rembert_tf.tasks.errors import TaskError
from rembert_tf.training import common_flags

common_flags.define_flags(squad_training.SquadParams, {
    "model_dir": "Checkpoints, features, predictions, results and the "
                 "SavedModel.",
    "init_checkpoint": "Pre-training checkpoint (model_dir/ckpt-N) or encoder "
                       "export (model_dir/encoder/encoder-N); unused when "
                       "--model_dir already holds a checkpoint.",
    "sp_model_file": "The encoder's SentencePiece model (checked against the "
                     "config's vocabulary size and pad/[CLS]/[SEP] ids).",
    "train_file": "SQuAD JSON to fine-tune on (English).",
    "predict_file": "SQuAD JSON to evaluate; a {lang} placeholder gives one "
                    "file per --predict_languages entry.",
    "predict_languages": "Languages of --predict_file (with {lang}); a plain "
                         "file is one language, default en.",
    "features_dir": "Where the prepared features go (default "
                    "model_dir/features; must be local).",
    "max_seq_length": "Tokens per window, [CLS] and [SEP]s included.",
    "doc_stride": "Tokens between the starts of a context's windows.",
    "max_query_length": "Question tokens kept (the rest are cut).",
    "n_best_size": "Best starts and ends per window paired into answers, and "
                   "answers kept in nbest_predictions.json.",
    "max_answer_length": "Longest answer, in tokens.",
    "version_2_with_negative": "SQuAD 2.0: questions may have no answer.",
    "null_score_diff_threshold": "SQuAD 2.0: predict no answer when null "
                                 "score minus best span score exceeds this.",
    "skip_bad_examples": "Skip and count questions whose answer is not their "
                         "context's substring, empty texts, repeated ids, "
                         "instead of failing.",
    "eval_normalization": "squad: the official SQuAD v1.1 answer "
                          "normalisation; mlqa: MLQA's per-language rules.",
    "overwrite_features": "Prepare features again when the features "
                          "directory holds other settings' features.",
    "eval_batch_size": "Global prediction batch (the last one padded).",
    "seed": "Head initialisation and input-order seed.",
}, enums={"eval_normalization": squad_training.EVAL_NORMALIZATIONS})

# --helpshort lists them as this script's own.
flags.adopt_module_key_flags(common_flags)


def main(argv: Sequence[str]) -> None:
  common_flags.run_main(
      argv, "run_squad.py", squad_training.run_squad,
      squad_training.SquadParams, (TaskError,))


if __name__ == "__main__":
  app.run(main)
