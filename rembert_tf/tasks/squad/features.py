"""Extractive-QA features: SentencePiece windows with character offsets.

Question and context are tokenized with the project's SentencePiece model
exactly as pre-training does (no lowercasing, no accent stripping, never
tf-models-official's `preprocess_text`), the whole context at once, so text
without spaces (zh, ja, th) gets the pieces pre-training saw. SentencePiece
reports each piece's UTF-8 byte span in the original text; a piece that starts
with "▁" also spans the whitespace before it. Offsets here are characters and
leave that whitespace out, so `context[start:end]` of a token span is the exact
original substring, never with a leading space. A piece of only whitespace
(the "▁" of the first word, or of a run of spaces) has an empty span.

The windows (layout, doc stride, max context) come from
`squad_windows.layout_windows`, the function the SavedModel calls in its
graph, run here eagerly on a whole chunk of examples at once. Training labels
are the answer's first and last token in the window, or 0 ([CLS]) when the
window does not hold the whole answer and for SQuAD 2.0 impossible questions;
a training example whose answer no piece overlaps gets no windows. An answer
boundary inside a piece cannot be labelled exactly: the covering tokens are
labelled, and such answers are counted and listed in the metadata as
`inexact_answers`.

`prepare_squad_features` writes one directory per input file, appearing only
when complete: `features.tfrecord`, `metadata.json` (settings, SentencePiece
hash, counts, and a cache key so the same input and settings are not prepared
twice) and, for evaluation, `examples.json` plus `windows.npz` with what
post-processing needs to map token spans back to text.
"""

import dataclasses
import hashlib
import json
import os
from typing import Any, Mapping, Optional, Sequence

from absl import logging
import numpy as np
from sentencepiece import sentencepiece_pb2

from rembert_tf import file_io
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.data import tfrecord_writer
from rembert_tf.export import preprocessing
from rembert_tf.tasks.squad import data as squad_data
from rembert_tf.tasks.squad import windows as squad_windows
from rembert_tf.tasks.errors import TaskError

FORMAT = "rembert_tf.squad_features"
FORMAT_VERSION = 1
TFRECORD_FILE = "features.tfrecord"
EXAMPLES_FILE = "examples.json"
WINDOWS_FILE = "windows.npz"
# Inexact answers listed by id in the metadata (all are counted).
MAX_LISTED_INEXACT = 20


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
  """Everything that shapes the features (google-research/bert defaults)."""
  max_seq_length: int = 384
  doc_stride: int = 128
  max_query_length: int = 64
  version_2_with_negative: bool = False
  skip_bad_examples: bool = False

  def check(self) -> None:
    """Fails on settings that cannot produce valid windows."""
    shortest_window = self.max_seq_length - self.max_query_length - 3
    problems = []
    if self.max_query_length < 1:
      problems.append(f"--max_query_length={self.max_query_length} must be "
                      "at least 1")
    if shortest_window < 1:
      problems.append(
          f"--max_query_length={self.max_query_length} + 3 must be below "
          f"--max_seq_length={self.max_seq_length}, leaving room for [CLS], "
          "two [SEP] and at least one context token")
    if self.doc_stride < 1:
      problems.append(f"--doc_stride={self.doc_stride} must be at least 1")
    elif shortest_window >= 1 and self.doc_stride > shortest_window:
      problems.append(
          f"--doc_stride={self.doc_stride} exceeds the shortest context window "
          f"(--max_seq_length - --max_query_length - 3 = {shortest_window}), "
          "so windows would skip context tokens")
    if problems:
      raise TaskError("; ".join(problems))

  def as_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TokenizedText:
  """Piece ids of a text and each piece's [start, end) in characters.

  The spans leave out whitespace absorbed by "▁" pieces (see module doc).
  """
  ids: np.ndarray  # int32 [n]
  starts: np.ndarray  # int32 [n]
  ends: np.ndarray  # int32 [n]


def _char_spans(text: str, proto: Any) -> TokenizedText:
  boundary = sentencepiece_vocab.WORD_BOUNDARY
  table = np.array(
      [(p.id, p.begin, p.end, len(p.surface) - len(p.surface.lstrip())
        if p.piece.startswith(boundary) else 0) for p in proto.pieces],
      np.int64).reshape(-1, 4)
  ids, begin, end, lead = table.T
  raw = np.frombuffer(text.encode("utf-8"), np.uint8)
  # Character index of every byte (continuation bytes are 10xxxxxx), plus one
  # entry for the end of the text.
  char_of_byte = np.append(np.cumsum((raw & 0xC0) != 0x80) - 1, len(text))
  starts = char_of_byte[begin]
  ends = np.where(end > begin, char_of_byte[np.maximum(end - 1, 0)] + 1,
                  starts)
  starts = np.minimum(starts + lead, ends)
  return TokenizedText(ids.astype(np.int32), starts.astype(np.int32),
                       ends.astype(np.int32))


def tokenize_with_offsets(vocab: sentencepiece_vocab.Vocab,
                          texts: Sequence[str]) -> list[TokenizedText]:
  """Tokenizes each text whole, as pre-training does, keeping char offsets."""
  protos = vocab.processor.encode(list(texts), out_type="serialized_proto")
  return [_char_spans(text, sentencepiece_pb2.SentencePieceText.FromString(p))
          for text, p in zip(texts, protos)]


def answer_token_span(tokens: TokenizedText, start: int,
                      end: int) -> Optional[tuple[int, int]]:
  """First and last token overlapping chars [start, end), or None if none."""
  nonempty = tokens.ends > tokens.starts
  first = np.flatnonzero(nonempty & (tokens.ends > start))
  last = np.flatnonzero(nonempty & (tokens.starts < end))
  if not len(first) or not len(last) or first[0] > last[-1]:
    return None
  return int(first[0]), int(last[-1])


@dataclasses.dataclass
class FeatureStats:
  """Counts over built features (for the log and the metadata).

  Answers are the training label in training and every gold answer in
  evaluation (where an inexact one caps the reachable exact match).
  """
  truncated_questions: int = 0
  inexact_answers: int = 0
  inexact_examples: list[dict[str, str]] = dataclasses.field(
      default_factory=list)
  unlabelled_answers: int = 0  # No piece overlaps it; not trained on.
  windows_without_answer: int = 0  # Training windows labelled [CLS].
  impossible_examples: int = 0
  max_windows_per_example: int = 0

  def add(self, other: "FeatureStats") -> None:
    for field in dataclasses.fields(self):
      mine, theirs = getattr(self, field.name), getattr(other, field.name)
      if field.name == "max_windows_per_example":
        setattr(self, field.name, max(mine, theirs))
      elif field.name == "inexact_examples":
        mine.extend(theirs[:MAX_LISTED_INEXACT - len(mine)])
      else:
        setattr(self, field.name, mine + theirs)

  def as_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FeatureSet:
  """One row per window of the given examples, in example order."""
  input_word_ids: np.ndarray  # int32 [F, S]
  input_mask: np.ndarray  # int32 [F, S]
  input_type_ids: np.ndarray  # int32 [F, S]
  start_positions: np.ndarray  # int32 [F]; 0 ([CLS]) when not in the window
  end_positions: np.ndarray  # int32 [F]
  example_index: np.ndarray  # int32 [F], into the examples given
  window_index: np.ndarray  # int32 [F], 0 for an example's first window
  token_char_starts: np.ndarray  # int32 [F, S]; -1 outside the context
  token_char_ends: np.ndarray  # int32 [F, S]; -1 outside the context
  token_is_max_context: np.ndarray  # bool [F, S]
  stats: FeatureStats

  def __len__(self) -> int:
    return len(self.example_index)


def _labelled_span(example: squad_data.SquadExample,
                   answer: squad_data.Answer, context: TokenizedText,
                   stats: FeatureStats) -> Optional[tuple[int, int]]:
  """The answer's token span; counts it when unlabelled or inexact."""
  span = answer_token_span(context, answer.start, answer.end)
  if span is None:
    stats.unlabelled_answers += 1
    return None
  labelled = example.context[context.starts[span[0]]:context.ends[span[1]]]
  if labelled != answer.text:
    stats.inexact_answers += 1
    if len(stats.inexact_examples) < MAX_LISTED_INEXACT:
      stats.inexact_examples.append({"id": example.qas_id,
                                     "answer": answer.text,
                                     "labelled": labelled})
  return span


def build_features(examples: Sequence[squad_data.SquadExample],
                   vocab: sentencepiece_vocab.Vocab, settings: FeatureSettings,
                   is_training: bool) -> FeatureSet:
  """Windows, labels (when training) and char offsets of the examples."""
  settings.check()
  contexts = list(dict.fromkeys(e.context for e in examples))
  tokenized = dict(zip(contexts, tokenize_with_offsets(vocab, contexts)))
  questions = vocab.processor.encode([e.question for e in examples])
  stats = FeatureStats()
  kept, spans = [], []  # Examples that get windows; their label token spans.
  for index, (example, question) in enumerate(zip(examples, questions)):
    stats.truncated_questions += len(question) > settings.max_query_length
    stats.impossible_examples += example.is_impossible
    answers = example.answers[:1] if is_training else example.answers
    labelled = [_labelled_span(example, a, tokenized[example.context], stats)
                for a in answers]
    if is_training and labelled and labelled[0] is None:
      continue  # Nothing to label; counted in unlabelled_answers.
    kept.append(index)
    spans.append(labelled[0] if is_training and labelled else (-1, -1))
  context = [tokenized[examples[i].context] for i in kept]
  rows = {name: t.numpy() for name, t in squad_windows.layout_windows(
      preprocessing.to_ragged([questions[i] for i in kept]),
      *(preprocessing.to_ragged([getattr(c, name) for c in context])
        for name in ("ids", "starts", "ends")),
      max_seq_length=settings.max_seq_length, doc_stride=settings.doc_stride,
      max_query_length=settings.max_query_length,
      special_ids=vocab.special.as_dict()).items()}
  # Labels: the positions of the span's tokens in the windows holding both.
  span = np.array(spans, np.int64).reshape(-1, 2)[rows["example_index"]]
  token = rows["token_index"]
  at_start, at_end = token == span[:, :1], token == span[:, 1:]
  inside = (span[:, 0] >= 0) & at_start.any(axis=1) & at_end.any(axis=1)
  start_positions = np.where(inside, at_start.argmax(axis=1), 0)
  end_positions = np.where(inside, at_end.argmax(axis=1), 0)
  if is_training:
    stats.windows_without_answer = int(np.sum(~inside))
  stats.max_windows_per_example = int(rows["window_index"].max(initial=-1)) + 1
  return FeatureSet(
      rows["input_word_ids"], rows["input_mask"], rows["input_type_ids"],
      start_positions.astype(np.int32), end_positions.astype(np.int32),
      np.array(kept, np.int32)[rows["example_index"]],
      rows["window_index"].astype(np.int32), rows["token_starts"],
      rows["token_ends"], rows["token_is_max_context"], stats)


def feature_spec(max_seq_length: int,
                 is_training: bool) -> dict[str, dict[str, Any]]:
  """Names, dtypes and shapes of the TFRecord features (for metadata)."""
  s = {"dtype": "int64", "shape": [max_seq_length]}
  one = {"dtype": "int64", "shape": [1]}
  spec = {"input_word_ids": s, "input_mask": s, "input_type_ids": s,
          "unique_id": one}
  if is_training:
    spec.update(start_positions=one, end_positions=one)
  return spec


def _records(features: FeatureSet, first_unique_id: int,
             is_training: bool) -> bytes:
  columns = {"input_word_ids": features.input_word_ids,
             "input_mask": features.input_mask,
             "input_type_ids": features.input_type_ids,
             "unique_id": first_unique_id + np.arange(len(features))[:, None]}
  if is_training:
    columns.update(start_positions=features.start_positions[:, None],
                   end_positions=features.end_positions[:, None])
  return tfrecord_writer.frame_records(
      tfrecord_writer.serialize_examples(columns))


@dataclasses.dataclass(frozen=True)
class EvalFeatures:
  """What post-processing needs: examples and each window's char offsets.

  Row f of the window arrays is the feature with unique_id f.
  """
  example_ids: list[str]
  contexts: list[str]  # Per example (shared strings).
  gold_answers: list[list[str]]  # Every gold answer text; [] if impossible.
  is_impossible: list[bool]
  example_index: np.ndarray  # int32 [F]
  window_index: np.ndarray  # int32 [F]
  token_char_starts: np.ndarray  # int32 [F, S]; -1 outside the context
  token_char_ends: np.ndarray  # int32 [F, S]
  token_is_max_context: np.ndarray  # bool [F, S]

  def gold(self) -> dict[str, list[str]]:
    """id -> gold answer texts, as the metrics take them."""
    return dict(zip(self.example_ids, self.gold_answers))


def _write_eval_files(directory: str,
                      examples: Sequence[squad_data.SquadExample],
                      windows: Mapping[str, np.ndarray]) -> None:
  contexts = list(dict.fromkeys(e.context for e in examples))
  context_index = {c: i for i, c in enumerate(contexts)}
  file_io.write_json(os.path.join(directory, EXAMPLES_FILE), {
      "contexts": contexts,
      "examples": [{"id": e.qas_id, "context": context_index[e.context],
                    "answers": [a.text for a in e.answers],
                    "is_impossible": e.is_impossible} for e in examples]})
  with file_io.AtomicFile(os.path.join(directory, WINDOWS_FILE)) as f:
    np.savez(f, **windows)


def load_eval_features(directory: str) -> EvalFeatures:
  """Reads `examples.json` and `windows.npz` of an evaluation directory."""
  try:
    with open(os.path.join(directory, EXAMPLES_FILE), encoding="utf-8") as f:
      data = json.load(f)
    with np.load(os.path.join(directory, WINDOWS_FILE)) as npz:
      windows = {k: npz[k] for k in npz.files}
  except (OSError, ValueError) as e:
    raise TaskError(f"{directory}: no readable evaluation features ({e}); "
                    "prepare it with is_training=False") from None
  contexts = data["contexts"]
  examples = data["examples"]
  return EvalFeatures(
      [e["id"] for e in examples], [contexts[e["context"]] for e in examples],
      [e["answers"] for e in examples], [e["is_impossible"] for e in examples],
      windows["example_index"], windows["window_index"],
      windows["token_char_starts"], windows["token_char_ends"],
      windows["token_is_max_context"])


@dataclasses.dataclass(frozen=True)
class PreparedFeatures:
  """A written (or reused) features directory and its metadata."""
  directory: str
  metadata: dict[str, Any]
  reused: bool

  @property
  def tfrecord(self) -> str:
    return os.path.join(self.directory, TFRECORD_FILE)

  @property
  def num_features(self) -> int:
    return self.metadata["counts"]["features"]

  @property
  def num_examples(self) -> int:
    return self.metadata["counts"]["examples"]


def features_dir(output_dir: str, json_path: str) -> str:
  """`<output_dir>/<input file name without .json>`, e.g. `.../dev-de`."""
  name = os.path.basename(json_path)
  return os.path.join(output_dir, name[:-5] if name.endswith(".json") else name)


def cache_key(json_path: str, vocab: sentencepiece_vocab.Vocab,
              settings: FeatureSettings, is_training: bool) -> str:
  """sha256 of what the output depends on: input bytes, model, settings."""
  identity = {"format_version": FORMAT_VERSION, "is_training": is_training,
              "settings": settings.as_dict(), "sentencepiece": vocab.sha256,
              "source": sentencepiece_vocab.file_sha256(json_path)}
  return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()
                        ).hexdigest()


def read_features_metadata(directory: str) -> dict[str, Any]:
  """Reads and format-checks `<directory>/metadata.json`."""
  return file_io.read_metadata(directory, FORMAT, FORMAT_VERSION,
                               written_by="a directory written by "
                               "prepare_squad_features")


def _reusable(directory: str, key: str, overwrite: bool
              ) -> Optional[dict[str, Any]]:
  """The metadata of an existing directory made with the same key, else None."""
  if not os.path.exists(directory):
    return None
  try:
    meta = read_features_metadata(directory)
  except file_io.MetadataError:
    meta = {}
  files = meta.get("files", {}).values()
  if meta.get("cache_key") == key and all(
      os.path.isfile(os.path.join(directory, f)) for f in files):
    return meta
  if overwrite:
    return None
  raise TaskError(
      f"{directory} already exists but holds other features (another input "
      "file, SentencePiece model or settings; its metadata.json has "
      f"{meta.get('settings', 'no settings')}); pass overwrite (--overwrite) "
      "to replace it, or use another --output_dir")


def prepare_squad_features(json_path: str, vocab: sentencepiece_vocab.Vocab,
                           settings: FeatureSettings, output_dir: str,
                           is_training: bool, *, overwrite: bool = False,
                           chunk_size: int = 1000) -> PreparedFeatures:
  """Reads one SQuAD JSON file and writes its features directory.

  The directory is `features_dir(output_dir, json_path)`. If it already holds
  features of the same input bytes, SentencePiece model and settings, they are
  reused (nothing is read or written). Examples are processed `chunk_size` at
  a time, so training data is written with bounded memory.
  """
  settings.check()
  squad_data.require_file(json_path)
  directory = features_dir(output_dir, json_path)
  key = cache_key(json_path, vocab, settings, is_training)
  meta = _reusable(directory, key, overwrite)
  if meta is not None:
    logging.info("%s: reusing features prepared with the same settings",
                 directory)
    return PreparedFeatures(directory, meta, reused=True)
  read = squad_data.read_squad_file(
      json_path, is_training=is_training,
      version_2_with_negative=settings.version_2_with_negative,
      skip_bad_examples=settings.skip_bad_examples)
  examples = read.examples
  stats = FeatureStats()
  windows: dict[str, list[np.ndarray]] = {}
  num_features = 0
  files = {"tfrecord": TFRECORD_FILE}
  with file_io.atomic_directory(directory, overwrite=True) as tmp:
    with file_io.AtomicFile(os.path.join(tmp, TFRECORD_FILE)) as f:
      for first in range(0, len(examples), chunk_size):
        chunk = build_features(examples[first:first + chunk_size], vocab,
                               settings, is_training)
        f.write(_records(chunk, num_features, is_training))
        num_features += len(chunk)
        stats.add(chunk.stats)
        if not is_training:
          for name in ("window_index", "token_char_starts", "token_char_ends",
                       "token_is_max_context"):
            windows.setdefault(name, []).append(getattr(chunk, name))
          windows.setdefault("example_index", []).append(
              chunk.example_index + first)
    if not is_training:
      _write_eval_files(tmp, examples,
                        {k: np.concatenate(v) for k, v in windows.items()})
      files.update(examples=EXAMPLES_FILE, windows=WINDOWS_FILE)
    meta = {
        **file_io.metadata_header(FORMAT, FORMAT_VERSION,
                                  "rembert_tf.tasks.squad.features"),
        "cache_key": key,
        "is_training": is_training,
        "source": {"file": os.path.abspath(json_path),
                   "sha256": sentencepiece_vocab.file_sha256(json_path)},
        "settings": settings.as_dict(),
        "sentencepiece": {"source": os.path.abspath(vocab.path),
                          "sha256": vocab.sha256,
                          "vocab_size": vocab.vocab_size,
                          "special_ids": vocab.special.as_dict()},
        "features": feature_spec(settings.max_seq_length, is_training),
        "files": files,
        "counts": {"questions_read": read.num_questions,
                   "examples": len(examples), "features": num_features,
                   "skipped": read.skipped, **stats.as_dict()}}
    file_io.write_json(os.path.join(tmp, file_io.METADATA_FILE), meta)
  skipped = {k: v for k, v in read.skipped.items() if v}
  logging.info("%s: %d questions -> %d examples, %d features%s", json_path,
               read.num_questions, len(examples), num_features,
               f"; skipped {skipped}" if skipped else "")
  if stats.inexact_answers:
    logging.warning(
        "%s: %d answers do not start and end on piece boundaries and are "
        "labelled with the covering pieces (first ones: %s)", json_path,
        stats.inexact_answers, stats.inexact_examples[:3])
  return PreparedFeatures(directory, meta, reused=False)


def validate_features(meta: Mapping[str, Any], directory: str, *,
                      max_seq_length: int, vocab_size: int,
                      special_ids: Mapping[str, int],
                      is_training: Optional[bool] = None) -> None:
  """Fails when the features were prepared for another model or use."""
  sp = meta["sentencepiece"]
  checks = [("max_seq_length", meta["settings"]["max_seq_length"],
             max_seq_length), ("vocab_size", sp["vocab_size"], vocab_size)]
  checks += file_io.special_id_checks(meta, special_ids)
  if is_training is not None:
    checks.append(("is_training", meta["is_training"], is_training))
  file_io.check_matches(
      directory, checks,
      "Prepare the features again with matching settings.")
