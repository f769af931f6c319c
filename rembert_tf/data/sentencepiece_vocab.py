"""SentencePiece model loading, special-token lookup and training.

Special-token ids are always read from the model (RemBERT's own model has
pad 0, [CLS] 312, [SEP] 313; a model trained here has different ids), never
hard-coded. Text goes to SentencePiece as is: no lowercasing and no accent
stripping, unlike tf-models-official's `preprocess_text`, which drops
combining characters and so breaks Devanagari viramas and Vietnamese tones.

Models trained by `train_model` use `normalization_rule_name="identity"`:
NFKC (`nmt_nfkc`) would keep accents but still rewrite compatibility
characters (full-width CJK punctuation, ligatures), so encode/decode would not
round-trip the corpus text byte for byte.

Command line (trains on every `*.txt` under `<input_dir>/<lang>/`)::

  python -m rembert_tf.data.sentencepiece_vocab --input_dir=DIR \
      --languages=en,de --model_prefix=out/spm/demo --vocab_size=4000
"""

import dataclasses
import hashlib
import io
import os
from typing import Sequence

from absl import app
from absl import flags
import numpy as np
import sentencepiece as spm

from rembert_tf import file_io
from rembert_tf.data.errors import DataPrepError
from rembert_tf.data.input_files import resolve_input_files

CLS, SEP, MASK = "[CLS]", "[SEP]", "[MASK]"
WORD_BOUNDARY = "\u2581"  # SentencePiece's "▁", marks a piece that starts a word.


@dataclasses.dataclass(frozen=True)
class SpecialIds:
  """Ids of the tokens data prep writes or must never mask."""
  pad: int
  unk: int
  cls: int
  sep: int
  mask: int

  def as_dict(self) -> dict[str, int]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Vocab:
  """A loaded SentencePiece model plus the per-id tables masking needs."""
  path: str
  processor: spm.SentencePieceProcessor
  sha256: str
  special: SpecialIds
  never_mask: np.ndarray  # bool[vocab]: control, pad and unused pieces.
  word_start: np.ndarray  # bool[vocab]: piece begins with the boundary mark.
  replacement_ids: np.ndarray  # int32: ids a "random token" may take.

  @property
  def vocab_size(self) -> int:
    return self.processor.get_piece_size()


def file_sha256(path: str) -> str:
  """Hex sha256 of a file, read in blocks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def find_special_ids(processor: spm.SentencePieceProcessor
                     ) -> tuple[dict[str, int], list[str]]:
  """The ids of [CLS], [SEP], [MASK] and padding, and the names of any missing.

  Padding is the model's pad_id, else a "[PAD]" piece (as some released
  vocabularies have it); the one rule for data prep, fine-tuning, export and
  `rembert_tf.load_tokenizer`.
  """
  unk = processor.unk_id()
  ids = {"cls": processor.piece_to_id(CLS), "sep": processor.piece_to_id(SEP),
         "mask": processor.piece_to_id(MASK)}
  missing = [piece for piece, i in zip((CLS, SEP, MASK), ids.values())
             if i == unk]
  ids["pad"] = processor.pad_id()
  if ids["pad"] < 0:
    ids["pad"] = processor.piece_to_id("[PAD]")
  if ids["pad"] == unk:
    missing.append("pad (pad_id)")
  return ids, missing


def load_vocab(path: str) -> Vocab:
  """Loads a model and checks it has [CLS], [SEP], [MASK] and a pad id."""
  if not os.path.isfile(path):
    raise DataPrepError(f"--sp_model_file: {path} does not exist.")
  processor = spm.SentencePieceProcessor()
  try:
    processor.load(path)
  except (OSError, RuntimeError) as e:
    raise DataPrepError(
        f"--sp_model_file: {path} is not a SentencePiece model ({e}).") from e
  ids, missing = find_special_ids(processor)
  if missing:
    raise DataPrepError(
        f"--sp_model_file: {path} lacks the special tokens {missing}; train "
        "it with control_symbols=[CLS],[SEP],[MASK] and pad_id=0 (see "
        "rembert_tf.data.sentencepiece_vocab).")
  special = SpecialIds(unk=processor.unk_id(), **ids)
  pad, unk = special.pad, special.unk
  size = processor.get_piece_size()
  never_mask = np.zeros(size, bool)
  word_start = np.zeros(size, bool)
  for i in range(size):
    never_mask[i] = processor.is_control(i) or processor.is_unused(i)
    word_start[i] = processor.id_to_piece(i).startswith(WORD_BOUNDARY)
  never_mask[pad] = True
  normal = ~never_mask
  normal[unk] = False
  return Vocab(path=path, processor=processor, sha256=file_sha256(path),
               special=special, never_mask=never_mask, word_start=word_start,
               replacement_ids=np.flatnonzero(normal).astype(np.int32))


def train_model(input_files: Sequence[str], model_prefix: str,
                vocab_size: int, *, num_threads: int = 1,
                input_sentence_size: int = 2_000_000) -> str:
  """Trains a unigram model for RemBERT data prep; returns the model path.

  Full character coverage, identity normalization, pad 0 / unk 1, no bos/eos
  (the [CLS]/[SEP] control symbols play that role). `vocab_size` is an upper
  bound: a small, regular corpus (like the demo's) yields fewer pieces. The
  model is deterministic for a given `num_threads` but differs between thread
  counts, so the default of 1 gives the same model on every machine.
  """
  if not input_files:
    raise DataPrepError("SentencePiece training needs at least one input.")
  os.makedirs(os.path.dirname(os.path.abspath(model_prefix)), exist_ok=True)
  # Trained in memory, so the model records no output path (its bytes depend
  # on nothing else) and no half-written file can appear.
  model = io.BytesIO()
  spm.set_random_generator_seed(12345)
  try:
    spm.SentencePieceTrainer.train(
        input=list(input_files), model_writer=model,
        vocab_size=vocab_size, model_type="unigram", character_coverage=1.0,
        normalization_rule_name="identity", control_symbols=[CLS, SEP, MASK],
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, hard_vocab_limit=False,
        input_sentence_size=input_sentence_size, shuffle_input_sentence=True,
        num_threads=num_threads, minloglevel=2)
  except RuntimeError as e:
    raise DataPrepError(f"SentencePiece training of {model_prefix}.model "
                        f"failed: {e}") from e
  processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
  with file_io.AtomicFile(model_prefix + ".vocab") as f:
    f.write("".join(f"{processor.id_to_piece(i)}\t{processor.get_score(i):g}\n"
                    for i in range(processor.get_piece_size())).encode())
  with file_io.AtomicFile(model_prefix + ".model") as f:
    f.write(model.getvalue())
  return model_prefix + ".model"


def main(argv: Sequence[str]) -> None:
  """CLI: trains a model on `<input_dir>/<lang>/*.txt` for each language."""
  del argv
  f = flags.FLAGS
  try:
    files = resolve_input_files(f.input_dir, None, f.languages)
    print(train_model([p for v in files.values() for p in v], f.model_prefix,
                      f.vocab_size, num_threads=f.num_threads))
  except DataPrepError as e:
    raise SystemExit(f"error: {e}") from e


if __name__ == "__main__":
  flags.DEFINE_string("input_dir", None, "Corpus root: <input_dir>/<lang>/*.txt.")
  flags.DEFINE_list("languages", None, "Languages (subdirectories); default all.")
  flags.DEFINE_string("model_prefix", None, "Writes <prefix>.model/.vocab.")
  flags.DEFINE_integer("vocab_size", 4000, "Number of pieces, at most.")
  flags.DEFINE_integer("num_threads", 1, "Training threads; the model depends "
                       "on the count, so keep it fixed for reproducibility.")
  flags.mark_flags_as_required(["input_dir", "model_prefix"])
  app.run(main)
