r"""Creates RemBERT MLM pretraining TFRecords from multilingual plain text.

Input is BERT's format (one sentence a line, a blank line between documents),
grouped by language: `--input_dir=DIR` reads `DIR/<lang>/**/*.txt` for each
of `--languages`, or `--input_file=en:/data/en/*.txt,de:/data/de/*.txt`
gives one file pattern per language. Output in `--output_dir`: shards
`<lang>-NNNNN-of-NNNNN.tfrecord` with input_word_ids, input_mask,
input_type_ids, masked_lm_positions, masked_lm_ids and masked_lm_weights, and
`metadata.json` (settings, SentencePiece hash, special ids, per-language
counts and alpha-smoothed sampling weights) that training checks first.

Runs on all cores, streams the text, is deterministic for a seed, and can be
restarted: finished shards are skipped, so a run that was killed or stopped by
a full disk (the error names the finished shards) resumes.

Demo (generates the embedded corpus and trains its SentencePiece model when
missing, then writes the shards):

  python create_pretraining_data.py --flagfile=flags/demo_data.flags
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags
from absl import logging

from rembert_tf.data import demo_corpus
from rembert_tf.data import pipeline
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data.errors import DataPrepError
from rembert_tf.data.input_files import resolve_input_files

FLAGS = flags.FLAGS
flags.DEFINE_string("input_dir", None,
                    "Corpus root holding one subdirectory of *.txt per language.")
flags.DEFINE_list("input_file", None,
                  "Instead of --input_dir: comma-separated LANG:GLOB entries.")
flags.DEFINE_list("languages", None,
                  "Languages to include (default: all of --input_file, or "
                  "every subdirectory of --input_dir).")
flags.DEFINE_string("output_dir", None, "Directory for shards and metadata.json.")
flags.DEFINE_string("sp_model_file", None, "SentencePiece model (*.model).")
flags.DEFINE_integer("max_seq_length", 128, "Tokens per example, [CLS]/[SEP] included.")
flags.DEFINE_integer("max_predictions_per_seq", 20,
                     "Masked positions per example, at most.")
flags.DEFINE_float("masked_lm_prob", 0.15, "Fraction of maskable tokens predicted.")
flags.DEFINE_integer("dupe_factor", 10, "Masked copies made of each sequence.")
flags.DEFINE_integer("random_seed", 12345, "Seed; equal seeds give equal bytes.")
flags.DEFINE_bool("do_whole_word_mask", False,
                  "Mask whole words (a '▁'-prefixed piece and its continuations).")
flags.DEFINE_float("alpha", 0.5, "Language sampling exponent: p_l ∝ n_l^alpha "
                   "(1 = natural mixture, 0 = uniform).")
flags.DEFINE_integer("num_shards", 0, "Shards per language; 0 = one per 8 MiB of text.")
flags.DEFINE_integer("num_workers", 0, "Worker processes; 0 = all cores.")
flags.DEFINE_enum("on_decode_error", "fail", ["fail", "skip"],
                  "For lines that are not UTF-8: stop naming file and line, "
                  "or skip them (counted in metadata.json).")
flags.DEFINE_string("demo_corpus_dir", None,
                    "Generate the embedded demo corpus (and fine-tuning sets) "
                    "here if absent, and read its pretraining text; replaces "
                    "--input_dir.")
flags.DEFINE_integer("train_sp_vocab_size", 0,
                     "If > 0 and --sp_model_file does not exist, first train "
                     "a unigram SentencePiece model of this size on the input.")


def _prepare_inputs() -> dict[str, list[str]]:
  input_dir = FLAGS.input_dir
  if FLAGS.demo_corpus_dir:
    if input_dir or FLAGS.input_file:
      raise DataPrepError("--demo_corpus_dir replaces --input_dir/--input_file; "
                          "pass only one of them.")
    demo_corpus.write_demo_corpus(FLAGS.demo_corpus_dir)
    input_dir = os.path.join(FLAGS.demo_corpus_dir, "pretrain")
  files = resolve_input_files(input_dir, FLAGS.input_file, FLAGS.languages)
  if FLAGS.train_sp_vocab_size and not os.path.exists(FLAGS.sp_model_file):
    prefix, ext = os.path.splitext(FLAGS.sp_model_file)
    if ext != ".model":
      raise DataPrepError(f"--sp_model_file={FLAGS.sp_model_file} must end in "
                          ".model to be trained.")
    logging.info("Training %s on %d files.", FLAGS.sp_model_file,
                 sum(map(len, files.values())))
    sentencepiece_vocab.train_model([p for v in files.values() for p in v],
                                    prefix, FLAGS.train_sp_vocab_size)
  return files


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    config = pipeline.DataPrepConfig(
        input_files={}, output_dir=FLAGS.output_dir,
        sp_model_file=FLAGS.sp_model_file, max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        masked_lm_prob=FLAGS.masked_lm_prob, dupe_factor=FLAGS.dupe_factor,
        random_seed=FLAGS.random_seed,
        do_whole_word_mask=FLAGS.do_whole_word_mask, alpha=FLAGS.alpha,
        num_shards=FLAGS.num_shards, num_workers=FLAGS.num_workers,
        skip_bad_lines=FLAGS.on_decode_error == "skip")
    pipeline.check_flags(config)  # Before generating or training anything.
    meta = pipeline.run(dataclasses.replace(config, input_files=_prepare_inputs()))
  except DataPrepError as e:
    print(f"create_pretraining_data.py: error: {e}", file=sys.stderr)
    sys.exit(1)
  for lang, entry in meta["languages"].items():
    print(f"{lang}: {entry['examples']} examples, {entry['tokens']} tokens, "
          f"sampling weight {meta['sampling']['weights'][lang]:.4f}")
  print(os.path.join(FLAGS.output_dir, "metadata.json"))


if __name__ == "__main__":
  flags.mark_flags_as_required(["output_dir", "sp_model_file"])
  app.run(main)
