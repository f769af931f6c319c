"""Tests for rembert_tf.tasks.squad.postprocess on hand-made logits."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf.data import demo_corpus
from rembert_tf.tasks.squad import data as squad_data
from rembert_tf.tasks.squad import features as squad_features
from rembert_tf.tasks.squad import metrics as squad_metrics
from rembert_tf.tasks.squad import postprocess as squad_postprocess
from rembert_tf.tasks.squad import windows as squad_windows
from rembert_tf.tasks.errors import TaskError
from tests.tasks import squad_fixtures

# Six context tokens (one per word), two windows of four: tokens 0-3 and 2-5.
CONTEXT = "Anna lives in Paris near Berlin"
WORDS = [(0, 4), (5, 10), (11, 13), (14, 19), (20, 24), (25, 31)]
SEQ = 8  # [CLS] q [SEP] four context tokens [SEP]
FIRST = 3  # Position of a window's first context token.


def _windows(windows=((0, 4), (2, 4)), context=CONTEXT, words=WORDS):
  """EvalFeatures of one example split into the given (first token, count),
  laid out by `layout_windows` after a one-token question."""
  num_tokens = windows[-1][0] + windows[-1][1]
  rows = squad_windows.layout_windows(
      tf.ragged.constant([[7]], tf.int32),
      tf.ragged.constant([list(range(num_tokens))], tf.int32),
      tf.ragged.constant([[w[0] for w in words[:num_tokens]]], tf.int32),
      tf.ragged.constant([[w[1] for w in words[:num_tokens]]], tf.int32),
      max_seq_length=SEQ, doc_stride=windows[1][0] if len(windows) > 1 else 1,
      max_query_length=1, special_ids={"cls": 1, "sep": 2, "pad": 0})
  rows = {name: np.array(value) for name, value in rows.items()}
  assert [(r[FIRST], sum(r >= 0)) for r in rows["token_index"]] == list(
      windows)
  return squad_features.EvalFeatures(
      ["q"], [context], [["Paris"]], [False],
      rows["example_index"].astype(np.int32),
      rows["window_index"].astype(np.int32), rows["token_starts"],
      rows["token_ends"], rows["token_is_max_context"])


def _logits(num_windows=2, low=-5.0):
  return (np.full([num_windows, SEQ], low), np.full([num_windows, SEQ], low))


def _run(features, start, end, **kwargs):
  return squad_postprocess.postprocess(
      features, np.arange(len(start)), start, end, **kwargs)


def test_best_span_across_two_windows():
  start, end = _logits()
  start[0, FIRST + 1], end[0, FIRST + 1] = 2.0, 2.0  # "lives" in window 0.
  start[1, FIRST + 2], end[1, FIRST + 3] = 3.0, 3.0  # "near Berlin", window 1.
  result = _run(_windows(), start, end, n_best_size=2)
  assert result.predictions == {"q": "near Berlin"}
  nbest = result.nbest["q"]
  assert [e["text"] for e in nbest] == ["near Berlin", "lives"]
  np.testing.assert_allclose([e["probability"] for e in nbest],
                             [1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))])
  assert (nbest[0]["start_logit"], nbest[0]["end_logit"]) == (3.0, 3.0)
  assert result.null_odds is None
  # Every valid span: starts 0-2 end in window 0 (9), starts 3-5 in window 1
  # (6); fewer than n_best_size 20.
  assert len(_run(_windows(), start, end).nbest["q"]) == 9 + 6


def test_start_must_be_in_its_max_context_window():
  start, end = _logits(low=-50.0)
  # Token 3 ("Paris") is max context in window 1 only (position 1 there).
  start[0, FIRST + 3], end[0, FIRST + 3] = 9.0, 9.0
  start[1, FIRST + 1], end[1, FIRST + 1] = 1.0, 1.0
  result = _run(_windows(), start, end)
  assert result.predictions["q"] == "Paris"
  assert result.nbest["q"][0]["start_logit"] == 1.0


def test_max_answer_length_is_respected():
  start, end = _logits(num_windows=1, low=-50.0)
  features = _windows(((0, 4),))
  start[0, FIRST + 0], end[0, FIRST + 3] = 10.0, 10.0  # 4 tokens long.
  start[0, FIRST + 1] = 4.0
  result = _run(features, start, end, max_answer_length=3)
  assert result.predictions["q"] == "lives in Paris"
  assert all(len(e["text"].split()) <= 3 for e in result.nbest["q"])
  assert _run(features, start, end, max_answer_length=4).predictions["q"] == (
      "Anna lives in Paris")


def test_end_before_start_is_rejected():
  start, end = _logits(num_windows=1, low=-50.0)
  start[0, FIRST + 3], end[0, FIRST + 2] = 30.0, 30.0
  end[0, FIRST + 3] = -40.0
  result = _run(_windows(((0, 4),)), start, end)
  assert result.predictions["q"] == "Paris"
  assert all(e["text"] for e in result.nbest["q"])


def test_spans_outside_the_context_are_rejected():
  start, end = _logits(num_windows=1)
  features = _windows(((0, 4),))
  for position in (0, 1, 2, FIRST + 4):  # [CLS], question, [SEP], [SEP].
    start[0, position] = end[0, position] = 50.0
  start[0, FIRST + 2], end[0, FIRST + 3] = 1.0, 1.0
  result = _run(features, start, end)
  assert result.predictions["q"] == "in Paris"
  assert all(e["text"] for e in result.nbest["q"])


def test_no_valid_span_predicts_empty():
  features = _windows(((0, 4),))
  features.token_is_max_context[:] = False
  start, end = _logits(num_windows=1)
  result = _run(features, start, end)
  assert result.predictions == {"q": ""}
  assert result.nbest["q"] == [{"text": "", "start_logit": 0.0,
                                "end_logit": 0.0, "probability": 1.0}]


def test_null_answer_and_threshold():
  start, end = _logits()
  start[:, 0] = [1.0, 0.5]  # Null scores 2.0 and 1.5: the minimum counts.
  end[:, 0] = [1.0, 1.0]
  start[0, FIRST + 1], end[0, FIRST + 1] = 0.5, 0.5  # Best non-null: 1.0.
  features = _windows()
  result = _run(features, start, end, version_2_with_negative=True)
  assert result.null_odds == {"q": pytest.approx(0.5)}
  assert result.predictions == {"q": ""}  # 0.5 > threshold 0.
  texts = [e["text"] for e in result.nbest["q"]]
  assert texts[:2] == ["", "lives"]
  null = result.nbest["q"][0]
  assert (null["start_logit"], null["end_logit"]) == (0.5, 1.0)
  raised = _run(features, start, end, version_2_with_negative=True,
                null_score_diff_threshold=0.6)
  assert raised.predictions == {"q": "lives"}
  # The null entry is kept even when it is not among the n best.
  start[:, 0] = end[:, 0] = -20.0
  low = _run(features, start, end, version_2_with_negative=True, n_best_size=2)
  assert [e["text"] for e in low.nbest["q"]][-1] == ""
  assert len(low.nbest["q"]) == 3 and low.predictions["q"] == "lives"


def test_ties_go_to_the_earlier_window_then_start_then_end():
  """Every span scores the same: they rank as `span_candidates` orders them,
  the order the SavedModel takes its answer from."""
  start, end = _logits()
  result = _run(_windows(), start, end)
  assert [e["text"] for e in result.nbest["q"]] == [
      "Anna", "Anna lives", "Anna lives in", "Anna lives in Paris", "lives",
      "lives in", "lives in Paris", "in", "in Paris", "Paris", "Paris near",
      "Paris near Berlin", "near", "near Berlin", "Berlin"]
  assert result.predictions["q"] == "Anna"


def test_rows_in_any_order_but_each_exactly_once():
  start, end = _logits()
  start[1, FIRST + 2], end[1, FIRST + 3] = 3.0, 3.0
  features = _windows()
  shuffled = squad_postprocess.postprocess(features, np.array([1, 0]),
                                           start[::-1], end[::-1])
  assert shuffled.predictions == {"q": "near Berlin"}
  with pytest.raises(TaskError, match="evaluation would not be exact"):
    squad_postprocess.postprocess(features, np.array([0, 0]), start, end)
  with pytest.raises(TaskError, match="logits for 1 rows"):
    squad_postprocess.postprocess(features, np.array([0]), start[:1], end[:1])


def test_duplicate_texts_are_merged():
  start, end = _logits()
  # "Paris" from both windows: once in the n-best, with the better score.
  start[0, FIRST + 3] = 2.0  # Not max context in window 0: ignored.
  start[1, FIRST + 1], end[1, FIRST + 1], end[0, FIRST + 3] = 2.0, 2.0, 3.0
  texts = [e["text"] for e in _run(_windows(), start, end).nbest["q"]]
  assert texts.count("Paris") == 1 and len(texts) == len(set(texts))


def test_prediction_files(tmp_path):
  start, end = _logits()
  start[1, FIRST + 2], end[1, FIRST + 3] = 3.0, 3.0
  start[:, 0] = end[:, 0] = 0.0
  result = _run(_windows(), start, end, version_2_with_negative=True)
  paths = squad_postprocess.write_prediction_files(str(tmp_path), result)
  assert sorted(os.listdir(tmp_path)) == [
      "nbest_predictions.json", "null_odds.json", "predictions.json"]
  loaded = {name: json.load(open(path, encoding="utf-8"))
            for name, path in paths.items()}
  assert loaded["predictions.json"] == {"q": "near Berlin"}
  assert loaded["null_odds.json"] == {"q": -6.0}
  assert loaded["nbest_predictions.json"]["q"][0] == {
      "text": "near Berlin", "probability": pytest.approx(
          result.nbest["q"][0]["probability"]),
      "start_logit": 3.0, "end_logit": 3.0}


def test_failed_write_leaves_no_prediction_file(tmp_path, monkeypatch):
  start, end = _logits()
  result = _run(_windows(), start, end)

  def crash(*args, **kwargs):
    raise OSError("simulated crash")

  monkeypatch.setattr(os, "replace", crash)
  with pytest.raises(OSError, match="simulated crash"):
    squad_postprocess.write_prediction_files(str(tmp_path), result)
  assert not os.listdir(tmp_path)  # No prediction file, no temporary.


@pytest.fixture(scope="session")
def squad(tmp_path_factory):
  return squad_fixtures.build(tmp_path_factory)


def test_gold_logits_give_full_marks_in_every_language(squad):
  """Logits peaked at the training labels recover every gold answer text."""
  settings = squad_features.FeatureSettings(max_seq_length=48, doc_stride=8,
                                            max_query_length=16)
  results = {}
  for lang in demo_corpus.LANGUAGES:
    path = squad.squad_file(f"dev-{lang}")
    train = squad_features.build_features(
        squad_data.read_squad_file(path, is_training=True).examples,
        squad.vocab, settings, True)
    examples = squad_data.read_squad_file(path, is_training=False).examples
    features = squad_fixtures.eval_features(
        examples, squad_features.build_features(examples, squad.vocab,
                                                settings, False))
    rows = np.arange(len(train))
    start = np.zeros(train.input_word_ids.shape)
    end = np.zeros(train.input_word_ids.shape)
    start[rows, train.start_positions] = end[rows, train.end_positions] = 10.0
    result = squad_postprocess.postprocess(features, rows, start, end)
    assert result.predictions == {e.qas_id: e.answers[0].text
                                  for e in examples}, lang
    results[lang] = squad_metrics.evaluate(features.gold(), result.predictions,
                                           language=lang)
  assert {r["exact_match"] for r in results.values()} == {100.0}
  assert {r["f1"] for r in results.values()} == {100.0}
