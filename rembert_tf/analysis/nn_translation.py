r"""Nearest-neighbour translation accuracy per layer: the paper's Figure 2.

  python -m rembert_tf.analysis.nn_translation --pairs_file=en-de.tsv \
      --languages=en,de --init_checkpoint=runs/eout128,runs/eout768 \
      --labels="Eout 128,Eout 768" --sp_model_file=sentencepiece.model \
      --output_dir=out/nn_en_de

Appendix A.9's method. Each sentence's vector at layer l is the mean of its
tokens' activations at that layer, leaving out [CLS], [SEP] and padding. Layer
0 is the embedding output fed to the first Transformer layer. The translation
vector is the mean over the M pairs of target - source. Each source vector
plus that vector is matched to the nearest target vector by L2 distance. The
accuracy is the fraction matched to their own translation; chance is 1/M.
Identical target sentences cannot be told apart (the first one wins), so
their number is reported.

Input: --pairs_file (source<TAB>target per line) or --source_file and
--target_file, aligned line by line. The first --max_pairs pairs are used
(the paper samples M = 5000 from WMT16). Sentences go to the SentencePiece
model unchanged and are packed as `[CLS] text [SEP]`, cut to
--max_seq_length. Output in --output_dir: nn_translation.json (per-layer
accuracy of each checkpoint and every plotted number) and nn_translation.png.
"""

import dataclasses
import os
from typing import Any, Optional, Sequence

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf import tokenizer
from rembert_tf.analysis import report
from rembert_tf.configs import load_config
from rembert_tf.data import demo_corpus
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.export import preprocessing
from rembert_tf.modeling.checkpoints import restore_encoder
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.tasks.errors import read_utf8

RESULTS_FILE = "nn_translation.json"
PLOT_FILE = "nn_translation.png"
XLABEL = "layer (0 = embedding output)"
YLABEL = "accuracy (fraction of pairs, 0-1)"


@dataclasses.dataclass(frozen=True)
class Pairs:
  """Aligned sentences, and where they came from (for the JSON)."""
  source: Sequence[str]
  target: Sequence[str]
  origin: str


def _lines(path: str, flag: str) -> list[str]:
  """A UTF-8 text file's lines, without line ends."""
  if not os.path.isfile(path):
    raise report.AnalysisError(f"--{flag}: {path} does not exist")
  lines = read_utf8(path).split("\n")
  if lines[-1] == "":
    lines.pop()
  return [line.rstrip("\r") for line in lines]


def _check_nonempty(path: str, number: int, side: str, text: str) -> str:
  if not text.strip():
    raise report.AnalysisError(f"{path}:{number}: empty {side} sentence; "
                               "every line needs a sentence")
  return text


def read_pairs(pairs_file: Optional[str] = None,
               source_file: Optional[str] = None,
               target_file: Optional[str] = None,
               max_pairs: Optional[int] = None) -> Pairs:
  """The first `max_pairs` pairs of a TSV file or of two aligned files.

  Raises:
    AnalysisError: a missing file, a line without exactly one tab, an empty
      sentence, files of unequal length or no pairs, naming file and line.
  """
  if bool(source_file) != bool(target_file) or bool(pairs_file) == bool(
      source_file):
    raise report.AnalysisError(
        "pass either --pairs_file, or both --source_file and --target_file")
  if pairs_file:
    source, target = [], []
    for number, line in enumerate(_lines(pairs_file, "pairs_file"), 1):
      fields = line.split("\t")
      if len(fields) != 2:
        raise report.AnalysisError(
            f"{pairs_file}:{number}: expected source<TAB>target, found "
            f"{len(fields) - 1} tabs")
      source.append(_check_nonempty(pairs_file, number, "source", fields[0]))
      target.append(_check_nonempty(pairs_file, number, "target", fields[1]))
    origin = pairs_file
  else:
    sides = {"source": (source_file, _lines(source_file, "source_file")),
             "target": (target_file, _lines(target_file, "target_file"))}
    (short_file, short), (long_file, long_lines) = sorted(
        sides.values(), key=lambda side: len(side[1]))
    if len(short) != len(long_lines):
      raise report.AnalysisError(
          f"{long_file}:{len(short) + 1}: no such line in {short_file}, "
          f"which has {len(short)} lines to its {len(long_lines)}; the files "
          "must be aligned line by line")
    source, target = ([_check_nonempty(path, number, side, text)
                       for number, text in enumerate(lines, 1)]
                      for side, (path, lines) in sides.items())
    origin = f"{source_file} | {target_file}"
  if not source:
    raise report.AnalysisError(f"{origin}: no sentence pairs")
  return Pairs(source[:max_pairs], target[:max_pairs], origin)


def demo_pairs(source: str, target: str, num_documents: int,
               seed: int) -> Pairs:
  """Parallel sentences of embedded-corpus documents of `seed` (held-out
  documents when it is not pre-training's seed), each distinct sentence once:
  the corpus repeats its sentences, and duplicates could not be told apart."""
  facts = dict.fromkeys(fact for document in
                        demo_corpus.documents(num_documents, seed)
                        for fact in document)
  return Pairs([demo_corpus.render(source, f)[0] for f in facts],
               [demo_corpus.render(target, f)[0] for f in facts],
               f"embedded demo corpus, {num_documents} documents of seed "
               f"{seed}, distinct sentences")


def pack(texts: Sequence[str], vocab: sentencepiece_vocab.Vocab,
         max_seq_length: int) -> tuple[dict[str, np.ndarray], int]:
  """`[CLS] text [SEP]` inputs, padded; and how many texts were cut."""
  ids = vocab.processor.encode(list(texts))
  packed = preprocessing.pack_segments(
      [preprocessing.to_ragged(ids)], max_seq_length, vocab.special.cls,
      vocab.special.sep, vocab.special.pad)
  truncated = sum(len(i) + 2 > max_seq_length for i in ids)
  return {name: t.numpy() for name, t in packed.items()}, truncated


def sentence_vectors(encoder: RemBertEncoder, inputs: dict[str, np.ndarray],
                     batch_size: int = 64) -> np.ndarray:
  """float32 [L + 1, n, H]: each sentence's mean activation at each layer
  over its tokens, [CLS], [SEP] and padding left out (layer 0: the
  embedding output)."""
  config = encoder.config
  length = inputs["input_word_ids"].shape[1]

  @tf.function(input_signature=[{
      name: tf.TensorSpec([None, length], tf.int32) for name in inputs}])
  def pooled(batch):
    outputs = encoder(batch, training=False)
    layers = tf.cast(tf.stack([outputs["embedding_output"],
                               *outputs["encoder_outputs"]]), tf.float32)
    ids = batch["input_word_ids"]
    content = tf.cast((batch["input_mask"] > 0) & (ids != config.bos_token_id)
                      & (ids != config.eos_token_id), tf.float32)
    sums = tf.einsum("lbsh,bs->lbh", layers, content)
    return sums / tf.maximum(tf.reduce_sum(content, 1), 1.0)[None, :, None]

  total = len(inputs["input_word_ids"])
  return np.concatenate(
      [pooled({name: v[start:start + batch_size]
               for name, v in inputs.items()}).numpy()
       for start in range(0, total, batch_size)], axis=1)


def nearest_neighbour_accuracy(source: np.ndarray, target: np.ndarray,
                               chunk: int = 1024) -> float:
  """One layer of A.9: the fraction of source vectors [M, H] that, moved by
  the mean of target - source, have their own target [M, H] as nearest (L2)."""
  source, target = source.astype(np.float64), target.astype(np.float64)
  translated = source + (target - source).mean(axis=0)
  target_norms = np.einsum("ij,ij->i", target, target)
  correct = 0
  for start in range(0, len(source), chunk):
    block = translated[start:start + chunk]
    # |a - b|^2 less |a|^2, which is the same for every b of a row.
    distances = target_norms[None, :] - 2 * block @ target.T
    correct += int(np.sum(np.argmin(distances, axis=1) ==
                          np.arange(start, start + len(block))))
  return correct / len(source)


def load_encoder(checkpoint: report.Checkpoint,
                 vocab: sentencepiece_vocab.Vocab,
                 max_seq_length: int) -> tuple[RemBertEncoder, str]:
  """The encoder of every pre-trained layer, restored, after checking the
  vocabulary and length against its config; and the checkpoint read."""
  config = load_config(checkpoint.config_file)
  try:
    tokenizer.check_vocabulary(vocab.processor, vocab.path, config,
                               checkpoint.config_file)
  except ValueError as e:
    raise report.AnalysisError(f"--sp_model_file: {e}") from None
  if max_seq_length > config.max_position_embeddings:
    raise report.AnalysisError(
        f"--max_seq_length={max_seq_length} exceeds max_position_embeddings "
        f"({config.max_position_embeddings}) of {checkpoint.config_file}")
  encoder = RemBertEncoder(config, add_pooling_layer=False)
  return encoder, restore_encoder(encoder, checkpoint.path).checkpoint


def pair_name(languages: Optional[Sequence[str]]) -> str:
  source, target = languages or ("source", "target")
  return f"{source}\u2192{target}"


def translate(pairs: Pairs, checkpoints: Sequence[report.Checkpoint],
              sp_model_file: str, output_dir: str, *,
              languages: Optional[Sequence[str]] = None,
              max_seq_length: int = 128, batch_size: int = 64
              ) -> dict[str, Any]:
  """Accuracy per layer of each checkpoint; writes the JSON and the PNG."""
  if languages is not None and len(languages) != 2:
    raise report.AnalysisError(f"--languages={','.join(languages)}: give "
                               "the source and the target language")
  vocab = sentencepiece_vocab.load_vocab(sp_model_file)
  packed = {"source": pack(pairs.source, vocab, max_seq_length),
            "target": pack(pairs.target, vocab, max_seq_length)}
  results = []
  for checkpoint in checkpoints:
    encoder, read = load_encoder(checkpoint, vocab, max_seq_length)
    source, target = (sentence_vectors(encoder, packed[side][0], batch_size)
                      for side in ("source", "target"))
    accuracy = [nearest_neighbour_accuracy(s, t)
                for s, t in zip(source, target)]
    results.append({"label": checkpoint.label, "checkpoint": read,
                    "config_file": checkpoint.config_file,
                    "layers": list(range(len(accuracy))),
                    "accuracy": accuracy})
  name, size = pair_name(languages), len(pairs.source)
  plot = report.line_plot(
      os.path.join(output_dir, PLOT_FILE),
      f"Nearest-neighbour {name} translation accuracy per layer "
      f"(M = {size} pairs)",
      [report.Panel(name, [report.Series(r["label"], r["layers"],
                                         r["accuracy"]) for r in results],
                    chance=1 / size)], XLABEL, YLABEL)
  summary = {
      "method": "appendix A.9: mean of token activations per layer without "
                "[CLS], [SEP] and padding; source + mean(target - source) "
                "matched to the nearest target by L2 distance",
      "pair": name, "pairs": pairs.origin, "num_pairs": size,
      "duplicate_targets": size - len(set(pairs.target)),
      "truncated": {side: packed[side][1] for side in packed},
      "max_seq_length": max_seq_length, "sp_model_file": sp_model_file,
      "checkpoints": results, "plot": plot, "png": PLOT_FILE}
  file_io.write_json(os.path.join(output_dir, RESULTS_FILE), summary)
  return summary


def format_curve(summary: dict[str, Any]) -> str:
  """The per-layer accuracies as a table: a row per layer, a column per
  checkpoint."""
  results = summary["checkpoints"]
  width = max(8, *(len(r["label"]) for r in results))
  lines = [f"{summary['pair']} nearest-neighbour accuracy, "
           f"{summary['num_pairs']} pairs (chance "
           f"{1 / summary['num_pairs']:.3f}):",
           "layer  " + "  ".join(r["label"].rjust(width) for r in results)]
  for layer in max((r["layers"] for r in results), key=len):
    lines.append(f"{layer:5d}  " + "  ".join(
        f"{r['accuracy'][layer]:{width}.3f}" if layer < len(r["accuracy"])
        else " " * width for r in results))
  return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  f = flags.FLAGS

  def run() -> None:
    pairs = read_pairs(f.pairs_file, f.source_file, f.target_file,
                       f.max_pairs)
    summary = translate(
        pairs, report.checkpoints_from_flags(f.init_checkpoint, f.labels,
                                             f.config_file),
        f.sp_model_file, f.output_dir, languages=f.languages,
        max_seq_length=f.max_seq_length, batch_size=f.batch_size)
    print(format_curve(summary))
    print(os.path.join(f.output_dir, RESULTS_FILE))
  report.exit_on_user_error("nn_translation", run)


if __name__ == "__main__":
  flags.DEFINE_string("pairs_file", None, "source<TAB>target per line.")
  flags.DEFINE_string("source_file", None, "Instead of --pairs_file: one "
                      "source sentence per line...")
  flags.DEFINE_string("target_file", None, "...and its translation on the "
                      "same line of this file.")
  flags.DEFINE_list("languages", None, "Source and target language, e.g. "
                    "en,de: names the pair in the plot and the JSON.")
  report.define_checkpoint_flags()
  flags.DEFINE_string("sp_model_file", None, "The SentencePiece model the "
                      "checkpoints were pre-trained with.")
  flags.DEFINE_integer("max_pairs", 5000, "Use the first M pairs (the "
                       "paper's M).", lower_bound=1)
  flags.DEFINE_integer("max_seq_length", 128, "Tokens per sentence, "
                       "[CLS] and [SEP] included; longer ones are cut.",
                       lower_bound=3)
  flags.DEFINE_integer("batch_size", 64, "Sentences per forward pass.",
                       lower_bound=1)
  flags.DEFINE_string("output_dir", None, "Where the JSON and PNG go.")
  flags.mark_flags_as_required(["sp_model_file", "output_dir"])
  flags.adopt_module_key_flags(report)  # --helpshort lists them too.
  app.run(main)
