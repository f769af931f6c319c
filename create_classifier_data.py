r"""Sentence-pair classification TSVs (XNLI, PAWS-X, generic) to TFRecords.

  python create_classifier_data.py --task=xnli --data_dir=download/xnli \
      --sp_model_file=rembert/sentencepiece.model --output_dir=data/xnli \
      --max_seq_length=128

Reads `train-en.tsv` and `<split>-<lang>.tsv` for every language and split,
writes `<split>-<lang>.tfrecord`, a copy of the SentencePiece model and
`metadata.json` (checked by run_classifier.py). Bad input (a label outside the
task's set, a missing language file) stops with one message and writes nothing.
"""

from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app

from rembert_tf.tasks import prepared
from rembert_tf.tasks.classification import data as classification_data
from rembert_tf.tasks.classification import features as classifier_features

prepared.define_prep_flags(classification_data.TASKS,
                           classification_data.EVAL_SPLITS, {
    "task": "xnli / pawsx: XTREME layout and labels; tsv: files with a "
            "text_a, text_b, label header and --labels.",
    "data_dir": "Directory with train-en.tsv, dev-<lang>.tsv, "
                "test-<lang>.tsv.",
    "max_seq_length": "Packed length, [CLS] and [SEP]s included; "
                      "run_classifier.py must use the same.",
    "labels": "Label set, for --task=tsv only.",
})


def main(argv: Sequence[str]) -> None:
  prepared.prep_main(argv, classifier_features.SCRIPT,
                     classifier_features.create_classifier_data,
                     classifier_features.summarize)


if __name__ == "__main__":
  app.run(main)
