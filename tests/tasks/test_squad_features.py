"""Tests for rembert_tf.tasks.squad.features: windows, labels, offsets."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.data import demo_corpus
from rembert_tf.tasks.squad import data as squad_data
from rembert_tf.tasks.squad import features as squad_features
from rembert_tf.tasks.squad import windows as squad_windows
from rembert_tf.tasks.errors import TaskError
from tests.tasks import squad_fixtures

# Small windows, so most contexts get several and answers fall on their edges.
SMALL = squad_features.FeatureSettings(max_seq_length=48, doc_stride=8,
                                       max_query_length=16)
MIXED_TEXT = "Anna lives  in Paris. 安娜住在巴黎。 Борис — друг Анны. अन्ना पेरिस में"


@pytest.fixture(scope="session")
def squad(tmp_path_factory):
  return squad_fixtures.build(tmp_path_factory)


def _read(squad, name, is_training=True, **kwargs):
  return squad_data.read_squad_file(squad.squad_file(name),
                                    is_training=is_training, **kwargs).examples


def _example(context, question, answer=None, qas_id="q"):
  answers = ()
  if answer is not None:
    answers = (squad_data.Answer(answer, context.index(answer)),)
  return squad_data.SquadExample(qas_id, question, context, answers)


def test_offsets_are_the_pieces_without_leading_whitespace(squad):
  (tokens,) = squad_features.tokenize_with_offsets(squad.vocab, [MIXED_TEXT])
  processor = squad.vocab.processor
  assert tokens.ids.tolist() == processor.encode(MIXED_TEXT)
  for i, start, end in zip(tokens.ids, tokens.starts, tokens.ends):
    text = MIXED_TEXT[start:end]
    assert text == processor.id_to_piece(int(i)).lstrip("\u2581") or (
        i == squad.vocab.special.unk)
    assert not text[:1].isspace()
  # Nothing but whitespace falls between consecutive pieces.
  assert "".join(MIXED_TEXT[s:e] for s, e in zip(tokens.starts, tokens.ends)
                 ) == MIXED_TEXT.replace(" ", "")
  assert tokens.ends[-1] == len(MIXED_TEXT)


def test_offsets_of_every_embedded_context(squad):
  """Character (not byte) offsets in every script, whole contexts at once."""
  contexts = sorted({e.context for lang in demo_corpus.LANGUAGES
                     for e in _read(squad, f"dev-{lang}")})
  tokenized = squad_features.tokenize_with_offsets(squad.vocab, contexts)
  for context, tokens in zip(contexts, tokenized):
    assert tokens.ids.tolist() == squad.vocab.processor.encode(context)
    assert "".join(context[s:e] for s, e in zip(tokens.starts, tokens.ends)
                   ) == context.replace(" ", "")
    assert np.all(tokens.starts <= tokens.ends)
    assert np.all(np.diff(tokens.starts) >= 0)


@pytest.mark.parametrize("changes, message", [
    ({"max_query_length": 61, "max_seq_length": 64},
     "--max_query_length=61 + 3 must be below --max_seq_length=64"),
    ({"doc_stride": 0}, "--doc_stride=0 must be at least 1"),
    ({"max_query_length": 0}, "--max_query_length=0 must be at least 1"),
    ({"doc_stride": 318},
     "--doc_stride=318 exceeds the shortest context window (--max_seq_length "
     "- --max_query_length - 3 = 317)"),
])
def test_settings_that_cannot_work(changes, message):
  settings = squad_features.FeatureSettings(**changes)
  with pytest.raises(TaskError) as error:
    settings.check()
  assert message in str(error.value)


def test_defaults_are_google_research_berts():
  settings = squad_features.FeatureSettings()
  assert (settings.max_seq_length, settings.doc_stride,
          settings.max_query_length) == (384, 128, 64)
  settings.check()


def _layout(num_tokens, window_length, doc_stride):
  """`layout_windows` of contexts of `num_tokens` tokens (ids 0, 1, ...) with
  questions that leave `window_length` tokens for each window; returns the
  rows and each row's first context position."""
  seq = max(window_length) + 4
  question_lengths = [seq - 3 - length for length in window_length]
  context = tf.RaggedTensor.from_row_lengths(
      tf.concat([tf.range(n) for n in num_tokens], 0), num_tokens)
  rows = squad_windows.layout_windows(
      tf.RaggedTensor.from_row_lengths(
          tf.fill([sum(question_lengths)], 7), question_lengths),
      context, context, context + 1, max_seq_length=seq,
      doc_stride=doc_stride, max_query_length=seq - 4,
      special_ids={"cls": 1, "sep": 2, "pad": 0})
  rows = {name: value.numpy() for name, value in rows.items()}
  return rows, np.array(question_lengths)[rows["example_index"]] + 2


def _window_starts(num_tokens, window_length, doc_stride):
  """The first token of each window of each example (lists of ints)."""
  rows, first = _layout(num_tokens, window_length, doc_stride)
  starts = [[] for _ in num_tokens]
  for example, index, f in zip(rows["example_index"], rows["token_index"],
                               first):
    starts[example].append(int(index[f]))
  return starts


def test_window_starts_cover_every_token():
  assert _window_starts([10, 4], [4, 4], 2) == [[0, 2, 4, 6], [0]]
  assert _window_starts([5], [4], 3) == [[0, 3]]
  for stride in range(1, 8):
    cases = [(n, length) for n in range(1, 30) for length in range(stride, 8)]
    for (n, length), starts in zip(cases,
                                   _window_starts(*zip(*cases), stride)):
      covered = {t for s in starts for t in range(s, min(s + length, n))}
      assert covered == set(range(n))
      assert starts[-1] + length >= n > starts[-1]


def _max_context_mask(num_tokens, doc_stride, window_length):
  """bool [windows, window_length]: the max-context flags of the windows."""
  rows, first = _layout([num_tokens], [window_length], doc_stride)
  return rows["token_is_max_context"][:, first[0]:first[0] + window_length]


def test_max_context_by_hand():
  # Windows [0-3] [2-5] [4-7] [6-9]: a token's max-context window is the one
  # where it is farthest from an edge.
  np.testing.assert_array_equal(
      _max_context_mask(10, 2, 4),
      [[1, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 1]])
  # Windows [0-3] [1-4]: token 2 scores min(2, 1) = min(1, 2) in both: the
  # first wins.
  np.testing.assert_array_equal(_max_context_mask(5, 1, 4),
                                [[1, 1, 1, 0], [0, 0, 1, 1]])
  # Windows [0-3] [2-5] [4-6]: the last window is shorter, so token 4 is
  # better off in window 1.
  np.testing.assert_array_equal(
      _max_context_mask(7, 2, 4),
      [[1, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]])


def test_window_layout_and_labels(squad):
  vocab, special = squad.vocab, squad.vocab.special
  context = ("Anna lives in Paris. Boris lives in Berlin. Dina lives in Cairo. "
             "Elena lives in Madrid.")
  example = _example(context, "Where does Dina live?", "Cairo")
  features = squad_features.build_features([example], vocab, SMALL, True)
  (tokens,) = squad_features.tokenize_with_offsets(vocab, [context])
  question = vocab.processor.encode(example.question)
  q, n = len(question), len(tokens.ids)
  length = SMALL.max_seq_length - q - 3
  (starts,) = _window_starts([n], [length], SMALL.doc_stride)
  assert len(features) == len(starts) >= 2
  answer_first, answer_last = squad_features.answer_token_span(
      tokens, example.answers[0].start, example.answers[0].end)
  seen = np.zeros(n, int)
  max_context = np.zeros(n, int)
  for f, first in enumerate(starts):
    c = min(length, n - first)
    ids = features.input_word_ids[f]
    assert ids.tolist() == ([special.cls, *question, special.sep,
                             *tokens.ids[first:first + c], special.sep] +
                            [special.pad] * (SMALL.max_seq_length - q - c - 3))
    assert features.input_mask[f].tolist() == [1] * (q + c + 3) + [0] * (
        SMALL.max_seq_length - q - c - 3)
    assert features.input_type_ids[f].tolist() == [0] * (q + 2) + [1] * (
        c + 1) + [0] * (SMALL.max_seq_length - q - c - 3)
    window = slice(q + 2, q + 2 + c)
    np.testing.assert_array_equal(features.token_char_starts[f, window],
                                  tokens.starts[first:first + c])
    assert (features.token_char_starts[f, :q + 2] == -1).all()
    assert (features.token_char_starts[f, q + 2 + c:] == -1).all()
    seen[first:first + c] += 1
    max_context[first:first + c] += features.token_is_max_context[f, window]
    inside = first <= answer_first and answer_last < first + c
    expected = ((answer_first - first + q + 2, answer_last - first + q + 2)
                if inside else (0, 0))
    assert (features.start_positions[f], features.end_positions[f]) == expected
  assert (seen >= 1).all() and (max_context == 1).all()
  assert sum(features.start_positions > 0) >= 1
  assert features.stats.windows_without_answer == sum(
      features.start_positions == 0)
  assert features.window_index.tolist() == list(range(len(starts)))


def test_question_is_truncated(squad):
  question = " ".join(["Where does Anna live and work?"] * 8)
  example = _example("Anna lives in Paris.", question, "Paris")
  features = squad_features.build_features([example], squad.vocab, SMALL, True)
  ids = features.input_word_ids[0]
  kept = squad.vocab.processor.encode(question)[:SMALL.max_query_length]
  assert ids[1:SMALL.max_query_length + 1].tolist() == kept
  assert ids[SMALL.max_query_length + 1] == squad.vocab.special.sep
  assert features.stats.truncated_questions == 1
  short = squad_features.build_features([_example(
      "Anna lives in Paris.", "Where?", "Paris")], squad.vocab, SMALL, True)
  assert short.stats.truncated_questions == 0


@pytest.mark.parametrize("lang", demo_corpus.LANGUAGES)
@pytest.mark.parametrize("settings", [SMALL, squad_features.FeatureSettings()],
                         ids=["small", "default"])
def test_labels_map_back_to_the_exact_answer(squad, lang, settings):
  """Every embedded training-style example, in every language."""
  names = [f"dev-{lang}", f"test-{lang}"] + (["train-en"] if lang == "en"
                                             else [])
  for name in names:
    examples = _read(squad, name)
    features = squad_features.build_features(examples, squad.vocab, settings,
                                             True)
    assert features.stats.inexact_answers == 0, features.stats.inexact_examples
    assert features.stats.unlabelled_answers == 0
    labelled = set()
    for f in np.flatnonzero(features.start_positions):
      example = examples[features.example_index[f]]
      start, end = features.start_positions[f], features.end_positions[f]
      assert start <= end and features.input_type_ids[f, start] == 1
      text = example.context[features.token_char_starts[f, start]:
                             features.token_char_ends[f, end]]
      assert text == example.answers[0].text, (name, example.qas_id)
      labelled.add(int(features.example_index[f]))
    assert labelled == set(range(len(examples))), name
    evaluation = squad_features.build_features(
        _read(squad, name, is_training=False), squad.vocab, settings, False)
    assert evaluation.stats.inexact_answers == 0


def test_inexact_answers_are_labelled_with_covering_pieces(squad):
  context = "Anna lives in Paris."
  (tokens,) = squad_features.tokenize_with_offsets(squad.vocab, [context])
  longest = int(np.argmax(tokens.ends - tokens.starts))
  start, end = int(tokens.starts[longest]), int(tokens.ends[longest])
  assert end - start >= 2
  answer = squad_data.Answer(context[start:end - 1], start)
  example = squad_data.SquadExample("q", "Where?", context, (answer,))
  features = squad_features.build_features([example], squad.vocab, SMALL, True)
  assert features.stats.inexact_answers == 1
  assert features.stats.inexact_examples == [
      {"id": "q", "answer": answer.text, "labelled": context[start:end]}]
  f_start, f_end = features.start_positions[0], features.end_positions[0]
  assert f_start == f_end > 0
  assert (features.token_char_starts[0, f_start],
          features.token_char_ends[0, f_end]) == (start, end)
  # Evaluation counts every gold answer that no token span can reproduce.
  exact = squad_data.Answer(context[start:end], start)
  both = squad_data.SquadExample("q", "Where?", context, (answer, exact))
  evaluation = squad_features.build_features([both], squad.vocab, SMALL, False)
  assert evaluation.stats.inexact_answers == 1
  assert (evaluation.start_positions == 0).all()


def test_impossible_questions_point_at_cls(squad):
  examples = _read(squad, "dev-en")[:3]
  impossible = squad_data.SquadExample("x", "Where does Igor work?",
                                       examples[0].context, (), True)
  settings = squad_features.FeatureSettings(
      max_seq_length=48, doc_stride=8, max_query_length=16,
      version_2_with_negative=True)
  features = squad_features.build_features(examples + [impossible],
                                           squad.vocab, settings, True)
  rows = features.example_index == 3
  assert rows.sum() >= 2
  assert (features.start_positions[rows] == 0).all()
  assert (features.end_positions[rows] == 0).all()
  assert features.stats.impossible_examples == 1


def _parse(path, max_seq_length, is_training):
  spec = {name: tf.io.FixedLenFeature(value["shape"], tf.int64)
          for name, value in squad_features.feature_spec(
              max_seq_length, is_training).items()}
  return [{k: v.numpy() for k, v in tf.io.parse_single_example(r, spec).items()}
          for r in tf.data.TFRecordDataset(path)]


def test_prepare_training_features(squad, tmp_path):
  path = squad.squad_file("train-en")
  prepared = squad_features.prepare_squad_features(
      path, squad.vocab, SMALL, str(tmp_path), True, chunk_size=7)
  assert prepared.directory == str(tmp_path / "train-en")
  assert not prepared.reused
  assert sorted(os.listdir(prepared.directory)) == ["features.tfrecord",
                                                    "metadata.json"]
  examples = _read(squad, "train-en")
  expected = squad_features.build_features(examples, squad.vocab, SMALL, True)
  records = _parse(prepared.tfrecord, SMALL.max_seq_length, True)
  assert len(records) == len(expected) == prepared.num_features
  for f, record in enumerate(records):
    assert record["unique_id"].tolist() == [f]
    np.testing.assert_array_equal(record["input_word_ids"],
                                  expected.input_word_ids[f])
    np.testing.assert_array_equal(record["input_type_ids"],
                                  expected.input_type_ids[f])
    np.testing.assert_array_equal(record["input_mask"], expected.input_mask[f])
    assert record["start_positions"].tolist() == [expected.start_positions[f]]
    assert record["end_positions"].tolist() == [expected.end_positions[f]]
  meta = squad_features.read_features_metadata(prepared.directory)
  assert meta == prepared.metadata
  assert meta["settings"] == SMALL.as_dict() and meta["is_training"]
  assert meta["sentencepiece"]["sha256"] == squad.vocab.sha256
  assert meta["sentencepiece"]["special_ids"] == squad.vocab.special.as_dict()
  counts = meta["counts"]
  assert counts["examples"] == counts["questions_read"] == len(examples)
  assert counts["inexact_answers"] == 0
  assert counts["windows_without_answer"] == sum(expected.start_positions == 0)
  assert counts["skipped"] == {r: 0 for r in squad_data.SKIP_REASONS}


def test_prepare_evaluation_features(squad, tmp_path):
  path = squad.squad_file("dev-hi")
  prepared = squad_features.prepare_squad_features(
      path, squad.vocab, SMALL, str(tmp_path), False, chunk_size=4)
  assert sorted(os.listdir(prepared.directory)) == [
      "examples.json", "features.tfrecord", "metadata.json", "windows.npz"]
  records = _parse(prepared.tfrecord, SMALL.max_seq_length, False)
  assert "start_positions" not in records[0]
  loaded = squad_features.load_eval_features(prepared.directory)
  examples = _read(squad, "dev-hi", is_training=False)
  expected = squad_fixtures.eval_features(
      examples, squad_features.build_features(examples, squad.vocab, SMALL,
                                              False))
  assert loaded.example_ids == expected.example_ids
  assert loaded.contexts == expected.contexts
  assert loaded.gold() == expected.gold()
  for name in ("example_index", "window_index", "token_char_starts",
               "token_char_ends", "token_is_max_context"):
    np.testing.assert_array_equal(getattr(loaded, name),
                                  getattr(expected, name))
  assert len(records) == len(loaded.example_index)


def test_prepared_features_are_reused_or_refused(squad, tmp_path):
  path = squad.squad_file("dev-zh")
  first = squad_features.prepare_squad_features(path, squad.vocab, SMALL,
                                                str(tmp_path), False)
  stamp = os.stat(first.tfrecord).st_mtime_ns
  again = squad_features.prepare_squad_features(path, squad.vocab, SMALL,
                                                str(tmp_path), False)
  assert again.reused and again.metadata == first.metadata
  assert os.stat(again.tfrecord).st_mtime_ns == stamp
  longer = squad_features.FeatureSettings(max_seq_length=64, doc_stride=8,
                                          max_query_length=16)
  with pytest.raises(TaskError, match=r"dev-zh already exists but holds other "
                     r"features .* pass overwrite \(--overwrite\)"):
    squad_features.prepare_squad_features(path, squad.vocab, longer,
                                          str(tmp_path), False)
  with pytest.raises(TaskError, match="dev-zh already exists"):
    squad_features.prepare_squad_features(path, squad.vocab, SMALL,
                                          str(tmp_path), True)
  replaced = squad_features.prepare_squad_features(
      path, squad.vocab, longer, str(tmp_path), False, overwrite=True)
  assert not replaced.reused
  assert replaced.metadata["settings"]["max_seq_length"] == 64
  assert replaced.metadata["cache_key"] != first.metadata["cache_key"]


def test_failure_leaves_no_output(squad, tmp_path, monkeypatch):
  path = squad.squad_file("dev-de")
  build = squad_features.build_features
  calls = []

  def failing(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
      raise RuntimeError("simulated crash")
    return build(*args, **kwargs)

  monkeypatch.setattr(squad_features, "build_features", failing)
  with pytest.raises(RuntimeError, match="simulated crash"):
    squad_features.prepare_squad_features(path, squad.vocab, SMALL,
                                          str(tmp_path), True, chunk_size=5)
  assert os.listdir(tmp_path) == []
  # A failed rebuild keeps the complete directory that was there.
  monkeypatch.setattr(squad_features, "build_features", build)
  kept = squad_features.prepare_squad_features(path, squad.vocab, SMALL,
                                               str(tmp_path), True)
  calls.clear()
  monkeypatch.setattr(squad_features, "build_features", failing)
  with pytest.raises(RuntimeError):
    squad_features.prepare_squad_features(
        path, squad.vocab, squad_features.FeatureSettings(), str(tmp_path),
        True, overwrite=True, chunk_size=5)
  assert os.listdir(tmp_path) == ["dev-de"]
  assert squad_features.read_features_metadata(kept.directory) == kept.metadata


def test_skips_reach_the_metadata(squad, tmp_path):
  with open(squad.squad_file("dev-es"), encoding="utf-8") as f:
    data = json.load(f)
  qa = data["data"][0]["paragraphs"][0]["qas"][0]
  qa["answers"][0]["answer_start"] += 1
  path = tmp_path / "dev-es.json"
  path.write_text(json.dumps(data), encoding="utf-8")
  with pytest.raises(TaskError, match="not the context substring"):
    squad_features.prepare_squad_features(str(path), squad.vocab, SMALL,
                                          str(tmp_path / "out"), True)
  settings = squad_features.FeatureSettings(
      max_seq_length=48, doc_stride=8, max_query_length=16,
      skip_bad_examples=True)
  prepared = squad_features.prepare_squad_features(
      str(path), squad.vocab, settings, str(tmp_path / "out"), True)
  counts = prepared.metadata["counts"]
  assert counts["skipped"]["answer_not_in_context"] == 1
  assert counts["examples"] == counts["questions_read"] - 1


def test_validate_names_the_mismatch(squad, tmp_path):
  prepared = squad_features.prepare_squad_features(
      squad.squad_file("dev-ar"), squad.vocab, SMALL, str(tmp_path), False)
  special = squad.vocab.special.as_dict()
  squad_features.validate_features(
      prepared.metadata, prepared.directory, max_seq_length=48,
      vocab_size=squad.vocab.vocab_size, special_ids=special, is_training=False)
  with pytest.raises(file_io.MetadataError) as error:
    squad_features.validate_features(
        prepared.metadata, prepared.directory, max_seq_length=384,
        vocab_size=squad.vocab.vocab_size + 1,
        special_ids={**special, "cls": 999}, is_training=True)
  assert str(error.value) == (
      f"{prepared.directory}/metadata.json: max_seq_length is 48 in the data "
      f"but 384 here; vocab_size is {squad.vocab.vocab_size} in the data but "
      f"{squad.vocab.vocab_size + 1} here; cls id is {special['cls']} in the "
      "data but 999 here; is_training is False in the data but True here. "
      "Prepare the features again with matching settings.")
