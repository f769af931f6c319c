r"""Sentence-pair classification TSVs (XNLI, PAWS-X, generic) to TFRecords.

  python create_classifier_data.py --task=xnli --data_dir=download/xnli \
      --sp_model_file=rembert/sentencepiece.model --output_dir=data/xnli \
      --max_seq_length=128

Reads `train-en.tsv` and `<split>-<lang>.tsv` for every language and split,
writes `<split>-<lang>.tfrecord`, a copy of the SentencePiece model and
`metadata.json` (checked by run_classifier.py). Bad input (a label outside the
task's set, a missing language file) stops with one message and writes nothing.
"""

import json
import sys
from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, oneDNN, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from rembert_tf.tasks.classification import data as classification_data
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.errors import TaskError

flags.DEFINE_enum("task", None, classification_data.TASKS,
                  "xnli / pawsx: XTREME layout and labels; tsv: files with a "
                  "text_a, text_b, label header and --labels.")
flags.DEFINE_string("data_dir", None,
                    "Directory with train-en.tsv, dev-<lang>.tsv, test-<lang>.tsv.")
flags.DEFINE_string("sp_model_file", None, "The encoder's SentencePiece model.")
flags.DEFINE_string("output_dir", None, "Where the TFRecords go (created).")
flags.DEFINE_integer("max_seq_length", 128, "Packed length, [CLS] and [SEP]s "
                     "included; run_classifier.py must use the same.")
flags.DEFINE_list("languages", None,
                  "Evaluation languages; default the task's XTREME languages.")
flags.DEFINE_list("labels", None, "Label set, for --task=tsv only.")
flags.DEFINE_list("eval_splits", list(classification_data.EVAL_SPLITS),
                  "Evaluation splits to prepare (dev, test).")
flags.DEFINE_string("train_language", "en", "Language of the training file.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.")
flags.mark_flags_as_required(["task", "data_dir", "sp_model_file",
                              "output_dir"])

FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    meta = classifier_features.create_classifier_data(
        FLAGS.task, FLAGS.data_dir, FLAGS.sp_model_file, FLAGS.output_dir,
        max_seq_length=FLAGS.max_seq_length, languages=FLAGS.languages,
        labels=FLAGS.labels, eval_splits=FLAGS.eval_splits,
        train_language=FLAGS.train_language, overwrite=FLAGS.overwrite)
  except TaskError as e:
    print(f"create_classifier_data.py: error: {e}", file=sys.stderr)
    sys.exit(1)
  print(json.dumps(meta["files"], indent=2, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
