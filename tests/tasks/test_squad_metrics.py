"""Tests for rembert_tf.tasks.squad.metrics on hand-computed cases."""

import json
import logging

import pytest

import rembert_tf  # noqa: F401  Sets the TensorFlow env defaults first.
from official.nlp.tools import squad_evaluate_v1_1
from official.nlp.tools import squad_evaluate_v2_0
from rembert_tf.tasks.squad import metrics as squad_metrics
from rembert_tf.tasks.errors import TaskError

normalize = squad_metrics.normalize_answer
em = squad_metrics.exact_match_score
f1 = squad_metrics.f1_score


def test_squad_normalisation():
  assert normalize("The  Eiffel-Tower!") == "eiffeltower"
  assert normalize("  An apple, a day ") == "apple day"
  assert normalize("Theatre") == "theatre"  # Whole words only.
  assert normalize("«Paris»") == "«paris»"  # Only ASCII punctuation.


def test_exact_match_and_f1_by_hand():
  assert em("the cat sat on the mat", "a cat on a mat") == 0.0
  # [cat sat on mat] vs [cat on mat]: precision 3/4, recall 1.
  assert f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
  assert em("The Cat.", "cat") == 1.0 and f1("The Cat.", "cat") == 1.0
  assert f1("Paris", "Berlin") == 0.0
  # Both empty after normalisation: EM 1 but F1 0 in v1.1, F1 1 in 2.0.
  assert em("the", "a") == 1.0 and f1("the", "a") == 0.0
  assert f1("the", "a", version_2=True) == 1.0
  assert f1("Paris", "", version_2=True) == 0.0


def test_evaluate_averages_best_gold_answers():
  gold = {"a": ["in Paris", "Paris"], "b": ["the red car"], "c": ["Berlin"],
          "d": ["Paris", "in Paris"]}
  predictions = {"a": "Paris", "b": "red", "d": "in Paris France"}
  result = squad_metrics.evaluate(gold, predictions)
  # a: 1 / 1; b: 0 / (p 1, r 1/2) 2/3; c: missing 0 / 0; d: 0 / max(1/2, 4/5).
  assert result["exact_match"] == pytest.approx(25.0)
  assert result["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0 + 0.8) / 4)
  assert result["num_questions"] == 4 and result["missing_predictions"] == 1
  assert result["normalization"] == "squad"
  json.dumps(result)


def test_matches_tf_models_official_squad_v1_1():
  gold = {"q0": ["Denver Broncos", "The Denver Broncos"],
          "q1": ["Santa Clara, California", "Levi's Stadium"],
          "q2": ["gold"], "q3": ["February 7, 2016", "Feb. 7"],
          "q4": ["the 50th Super Bowl"]}
  predictions = {"q0": "Broncos", "q1": "Levi's Stadium in Santa Clara",
                 "q2": "golden", "q3": "7 February 2016", "q4": "50th"}
  dataset = [{"paragraphs": [{"qas": [
      {"id": i, "answers": [{"text": t} for t in texts]}
      for i, texts in gold.items()]}]}]
  official = squad_evaluate_v1_1.evaluate(dataset, predictions)
  ours = squad_metrics.evaluate(gold, predictions)
  assert ours["exact_match"] == pytest.approx(100 * official["exact_match"])
  assert ours["f1"] == pytest.approx(100 * official["final_f1"])
  assert 0 < ours["f1"] < 100


def test_mlqa_chinese_mixed_segmentation():
  assert normalize("北京市的天安门，很大。", "zh") == "北 京 市 的 天 安 门 很 大"
  assert normalize("在Paris 2020年", "zh") == "在 paris 2020 年"
  # [北 京 大 学] vs [北 京]: precision 1/2, recall 1.
  assert f1("北京大学", "北京", "zh") == pytest.approx(2 / 3)
  assert f1("北京大学", "北京") == 0.0  # One token each under SQuAD rules.
  assert em("巴黎。", "巴黎", "zh") == 1.0


def test_mlqa_articles_per_language():
  assert em("der Ball", "Ball", "de") == 1.0
  assert em("der Ball", "Ball") == 0.0  # Not an English article.
  assert normalize("Derby eines Tages", "de") == "derby tages"
  assert em("el coche", "coche", "es") == 1.0
  assert normalize("Las lámparas y unos libros", "es") == "lámparas y libros"
  assert em("cái đèn", "đèn", "vi") == 1.0
  assert em("The car", "car", "en") == 1.0
  assert normalize("the car", "hi") == "the car"  # Hindi has none.


def test_mlqa_arabic_drops_every_al():
  assert normalize("القاهرة", "ar") == "قاهرة"
  assert em("القاهرة", "قاهرة", "ar") == 1.0
  # As in MLQA's script, not only the prefix: mid-word "ال" goes too.
  assert normalize("مالك", "ar") == "م ك"


def test_mlqa_unicode_punctuation():
  assert normalize("«Paris»", "en") == "paris"
  assert normalize("पेरिस।", "hi") == "पेरिस"  # Devanagari danda.
  assert normalize("¿Dónde?", "es") == "dónde"
  assert em("«Paris»", "Paris", "en") == 1.0 and em("«Paris»", "Paris") == 0.0


def test_unknown_language_falls_back_and_says_so(caplog):
  with caplog.at_level(logging.WARNING):
    assert normalize("The Paris!", "xx") == "the paris"
  assert "no normalisation rules for 'xx'" in caplog.text
  assert squad_metrics.describe_normalization("xx") == (
      "mlqa-unknown-xx: whitespace tokens, no articles")
  assert squad_metrics.describe_normalization("zh") == "mlqa-zh"
  result = squad_metrics.evaluate({"a": ["Paris"]}, {"a": "paris"},
                                  language="xx")
  assert result["normalization"].startswith("mlqa-unknown-xx")


def test_squad2_has_answer_and_no_answer():
  gold = {"a": ["Paris"], "b": [], "c": [], "d": ["Berlin"]}
  predictions = {"a": "Paris", "b": "", "c": "Berlin", "d": ""}
  result = squad_metrics.evaluate(gold, predictions,
                                  version_2_with_negative=True)
  assert result["exact_match"] == result["f1"] == 50.0
  assert result["has_answer_exact_match"] == 50.0
  assert result["no_answer_exact_match"] == result["no_answer_f1"] == 50.0
  assert (result["has_answer_questions"], result["no_answer_questions"]) == (2,
                                                                            2)
  dataset = [{"paragraphs": [{"qas": [
      {"id": i, "answers": [{"text": t} for t in texts]}
      for i, texts in gold.items()]}]}]
  official = squad_evaluate_v2_0.evaluate(dataset, predictions)
  assert result["exact_match"] == pytest.approx(official["exact"])
  assert result["f1"] == pytest.approx(official["f1"])
  assert result["has_answer_f1"] == pytest.approx(official["HasAns_f1"])
  assert result["no_answer_f1"] == pytest.approx(official["NoAns_f1"])


def test_v1_needs_a_gold_answer():
  with pytest.raises(TaskError, match="'b' has no gold answer; score SQuAD "
                     "2.0 data with version_2_with_negative"):
    squad_metrics.evaluate({"a": ["x"], "b": []}, {"a": "x", "b": ""})


def test_results_table_and_average():
  results = {"en": {"exact_match": 80.0, "f1": 85.5, "num_questions": 100},
             "zh": {"exact_match": 60.0, "f1": 70.3, "num_questions": 50}}
  assert squad_metrics.results_table("dev", results) == "\n".join([
      "language      dev EM      dev F1  questions",
      "      en       80.00       85.50        100",
      "      zh       60.00       70.30         50",
      " average       70.00       77.90"])
  assert squad_metrics.average(results) == {"exact_match": 70.0,
                                            "f1": pytest.approx(77.9)}
