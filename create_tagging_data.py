r"""Token-tagging files (PAN-X NER, UD POS, generic) to TFRecords.

  python create_tagging_data.py --task=panx --data_dir=download/panx \
      --sp_model_file=rembert/sentencepiece.model --output_dir=data/panx \
      --max_seq_length=128

Reads `train-en.tsv` and `<split>-<lang>.tsv` (token<TAB>label, a blank line
between sentences; raw WikiANN `<lang>:` prefixes are stripped; for udpos
also `<split>-<lang>.conllu`) for every language and split, writes
`<split>-<lang>.tfrecord`, the evaluation words, a copy of the SentencePiece
model and `metadata.json` (checked by run_tagging.py). A separate step, as
for the classifier: its output depends only on the files and
--max_seq_length, so every run of a sweep reuses it. Bad input (a line
without exactly two columns, an empty file or token, a sentence without
tokens, a word longer than a window, a label outside the set) stops with one
message naming the file and line, and writes nothing.
"""

from typing import Sequence

# Sets TensorFlow's environment defaults (tf_keras, quiet logs) before
# TensorFlow loads.
import rembert_tf  # pylint: disable=unused-import

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from rembert_tf.tasks import prepared
from rembert_tf.tasks.tagging import data as tagging_data
from rembert_tf.tasks.tagging import features as tagging_features

prepared.define_prep_flags(tagging_data.TASKS, tagging_data.EVAL_SPLITS, {
    "task": "panx: NER (entity F1), udpos: POS (accuracy), both with XTREME's "
            "languages; tsv: any token<TAB>label files, with --languages.",
    "data_dir": "Directory with train-en.tsv, dev-<lang>.tsv, "
                "test-<lang>.tsv (udpos: or .conllu).",
    "max_seq_length": "Window length, [CLS] and [SEP] included; "
                      "run_tagging.py must use the same.",
    "labels": "Label set; default the training file's.",
})
flags.DEFINE_bool("skip_unknown_labels", False,
                  "Skip (and count) sentences with a label outside the set "
                  "instead of failing.")


def main(argv: Sequence[str]) -> None:
  prepared.prep_main(argv, tagging_features.SCRIPT,
                     tagging_features.create_tagging_data,
                     tagging_features.summarize,
                     extra_flags=("skip_unknown_labels",))


if __name__ == "__main__":
  app.run(main)
