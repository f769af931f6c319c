"""NER entity F1 (CoNLL) and POS accuracy agree with seqeval's."""

import pytest
from seqeval import metrics as seqeval_metrics
from seqeval.metrics import sequence_labeling

from rembert_tf.tasks.tagging import data
from rembert_tf.tasks.tagging import metrics

# Gold and predicted sentences with CoNLL's edge cases: I- without B- (IOB1),
# a type change inside a run, B- after B-, single-word entities, an entity
# at the sentence's end, and predictions that get only some right.
GOLD = [
    ["I-PER", "I-PER", "O", "B-LOC"],
    ["B-PER", "I-PER", "I-LOC", "I-LOC", "O"],
    ["B-ORG", "B-ORG", "O", "I-ORG"],
    ["O", "O", "B-LOC", "I-LOC"],
    ["I-PER", "B-PER", "I-PER", "O"],
    ["O", "O", "O"],
]
PREDICTED = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["B-PER", "I-PER", "B-LOC", "I-LOC", "I-LOC"],
    ["B-ORG", "I-ORG", "O", "B-ORG"],
    ["O", "O", "B-LOC", "O"],
    ["I-PER", "I-PER", "I-PER", "O"],
    ["O", "B-MISC", "O"],
]


@pytest.mark.parametrize("tags", GOLD + PREDICTED)
def test_entities_are_seqevals(tags):
  assert metrics.entities(tags) == sequence_labeling.get_entities(tags)


def test_entity_scores_equal_seqeval():
  scores = metrics.score(data.ENTITY_F1, GOLD, PREDICTED)
  assert scores["precision"] == pytest.approx(
      seqeval_metrics.precision_score(GOLD, PREDICTED), abs=1e-12)
  assert scores["recall"] == pytest.approx(
      seqeval_metrics.recall_score(GOLD, PREDICTED), abs=1e-12)
  assert scores["f1"] == pytest.approx(
      seqeval_metrics.f1_score(GOLD, PREDICTED), abs=1e-12)
  # By hand: 10 gold and 9 predicted entities, 4 of them right.
  assert (scores["gold_entities"], scores["predicted_entities"]) == (10, 9)
  assert (scores["precision"], scores["recall"]) == (4 / 9, 4 / 10)
  assert scores["f1"] == pytest.approx(8 / 19)


def test_nothing_predicted_scores_zero():
  scores = metrics.entity_scores(GOLD, [["O"] * len(s) for s in GOLD])
  assert scores["precision"] == scores["recall"] == scores["f1"] == 0


def test_pos_accuracy_is_seqevals_and_reported_as_f1():
  gold = [["PROPN", "VERB", "ADP", "PROPN", "PUNCT"], ["NOUN", "AUX"]]
  predicted = [["PROPN", "NOUN", "ADP", "PROPN", "PUNCT"], ["NOUN", "VERB"]]
  scores = metrics.score(data.ACCURACY, gold, predicted)
  assert scores["f1"] == scores["precision"] == scores["recall"] == (
      pytest.approx(seqeval_metrics.accuracy_score(gold, predicted)))
  assert scores["f1"] == pytest.approx(5 / 7)


def test_table_has_every_language_and_the_average():
  results = {"metric": data.ENTITY_F1, "f1": {"en": 0.5, "de": 0.25},
             "precision": {"en": 0.5, "de": 0.5},
             "recall": {"en": 0.5, "de": 1 / 6},
             "sentences": {"en": 10, "de": 10},
             "split_sentences": {"en": 0, "de": 2}}
  lines = metrics.results_table("dev", results).splitlines()
  assert lines[0].split() == ["language", "dev", "F1", "precision", "recall",
                              "sentences", "cut"]
  assert lines[2].split() == ["de", "0.2500", "0.5000", "0.1667", "10", "2"]
  assert lines[-1].split() == ["average", "0.3750"]
