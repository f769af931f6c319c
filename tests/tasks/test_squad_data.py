"""Tests for rembert_tf.tasks.squad.data: reading and checking SQuAD JSON."""

import copy
import json
import os

import pytest

from rembert_tf.data import demo_corpus
from rembert_tf.tasks.squad import data as squad_data
from rembert_tf.tasks.errors import TaskError
from tests.tasks import squad_fixtures
from tests.tasks.conftest import predict_squad_cli

CONTEXT = "Anna lives in Paris. Boris lives in Berlin."
GOOD = {"version": "1.1", "data": [
    {"title": "a", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "q0", "question": "Where does Anna live?",
         "answers": [{"text": "Paris", "answer_start": 14},
                     {"text": "in Paris", "answer_start": 11}]},
        {"id": "q1", "question": "Where does Boris live?",
         "answers": [{"text": "Berlin", "answer_start": 36}]}]}]},
    {"title": "b", "paragraphs": [{"context": "Dina lives in Cairo.", "qas": [
        {"id": "q2", "question": "Where does Dina live?",
         "answers": [{"text": "Cairo", "answer_start": 14}]}]}]}]}


@pytest.fixture(scope="session")
def squad(tmp_path_factory):
  return squad_fixtures.build(tmp_path_factory)


def _write(tmp_path, data, name="dev-de.json"):
  path = tmp_path / name
  path.write_text(data if isinstance(data, str) else json.dumps(data),
                  encoding="utf-8")
  return str(path)


def test_reads_every_embedded_file(squad):
  for lang in demo_corpus.LANGUAGES:
    path = squad.squad_file(f"dev-{lang}")
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
    qas = [(p["context"], qa) for a in data["data"] for p in a["paragraphs"]
           for qa in p["qas"]]
    read = squad_data.read_squad_file(path, is_training=False)
    assert read.num_questions == len(qas) == len(read.examples) > 20
    assert set(read.skipped.values()) == {0}
    for example, (context, qa) in zip(read.examples, qas):
      assert (example.qas_id, example.context) == (qa["id"], context)
      (answer,) = example.answers
      assert context[answer.start:answer.end] == answer.text


def test_training_keeps_the_first_answer_evaluation_all(tmp_path):
  path = _write(tmp_path, GOOD)
  train = squad_data.read_squad_file(path, is_training=True)
  evaluation = squad_data.read_squad_file(path, is_training=False)
  assert [e.qas_id for e in train.examples] == ["q0", "q1", "q2"]
  assert train.examples[0].answers == (squad_data.Answer("Paris", 14),)
  assert evaluation.examples[0].answers == (
      squad_data.Answer("Paris", 14), squad_data.Answer("in Paris", 11))
  assert evaluation.examples[2].context == "Dina lives in Cairo."


def _broken(edit):
  data = copy.deepcopy(GOOD)
  edit(data)
  return data


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][1]["answers"][0].update(
        answer_start="36"),
     'dev-de.json: data[0].paragraphs[0].qas[1].answers[0].answer_start: '
     'expected an int, found a string "36"'),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][1].update(
        answer_start=True),
     "data[0].paragraphs[0].qas[0].answers[1].answer_start: expected an int, "
     "found a boolean"),
    (lambda d: d["data"][1]["paragraphs"][0].pop("context"),
     "dev-de.json: data[1].paragraphs[0].context: missing (expected a string)"),
    (lambda d: d["data"][1]["paragraphs"][0].update(qas={}),
     "data[1].paragraphs[0].qas: expected a list, found an object"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].update(question=None),
     "data[0].paragraphs[0].qas[1].question: expected a string, found null"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"].append("x"),
     "data[0].paragraphs[0].qas[0].answers[2]: expected an object, found a "
     "string"),
    (lambda d: d["data"].append(7),
     "data[2]: expected an object, found an int"),
    (lambda d: d.pop("data"), "dev-de.json: data: missing (expected a list)"),
])
def test_malformed_files_name_the_json_path(tmp_path, edit, message):
  path = _write(tmp_path, _broken(edit))
  with pytest.raises(TaskError) as error:
    squad_data.read_squad_file(path, is_training=False)
  assert str(error.value).startswith(str(tmp_path) + "/")
  assert message in str(error.value)


def test_top_level_must_be_an_object(tmp_path):
  with pytest.raises(TaskError, match=r"\(top level\): expected an object"):
    squad_data.read_squad_file(_write(tmp_path, "[]"), is_training=True)


def test_invalid_json_names_line_and_column(tmp_path):
  path = _write(tmp_path, '{"data": [\n  {"title": "a",,}\n]}')
  with pytest.raises(TaskError, match=r"dev-de\.json:2:17: invalid JSON "
                     r"\(Expecting property name"):
    squad_data.read_squad_file(path, is_training=True)


def test_missing_file(tmp_path):
  with pytest.raises(TaskError, match="nope.json: file not found"):
    squad_data.read_squad_file(str(tmp_path / "nope.json"), is_training=True)


def _bad_content():
  """GOOD plus one question per skip reason (two bad answers in evaluation)."""
  data = copy.deepcopy(GOOD)
  qas = data["data"][0]["paragraphs"][0]["qas"]
  qas += [
      {"id": "q0", "question": "Again?",
       "answers": [{"text": "Paris", "answer_start": 14}]},
      {"id": "q4", "question": "  ",
       "answers": [{"text": "Paris", "answer_start": 14}]},
      {"id": "q5", "question": "Where?", "answers": []},
      {"id": "q6", "question": "Where?",
       "answers": [{"text": " ", "answer_start": 4}]},
      {"id": "q7", "question": "Where?",
       "answers": [{"text": "Paris", "answer_start": 13}]},
      {"id": "q8", "question": "Where?",
       "answers": [{"text": "Paris", "answer_start": 14},
                   {"text": "Berlin", "answer_start": 99}]}]
  data["data"].append({"title": "c", "paragraphs": [{"context": " \n", "qas": [
      {"id": "q9", "question": "Where?",
       "answers": [{"text": "x", "answer_start": 0}]}]}]})
  return data


def test_content_problems_fail_by_default(tmp_path):
  path = _write(tmp_path, _bad_content())
  with pytest.raises(TaskError) as error:
    squad_data.read_squad_file(path, is_training=False)
  assert str(error.value) == (
      f"{path}: data[0].paragraphs[0].qas[2].id: the id 'q0' was already used "
      "by an earlier question; fix the file, or pass skip_bad_examples "
      "(--skip_bad_examples) to skip such questions and count them")


@pytest.mark.parametrize("qa, message", [
    ({"id": "x", "question": "", "answers": []},
     "qas[2].question: the question is empty"),
    ({"id": "x", "question": "Q?", "answers": []},
     "qas[2].answers: the question has no answer"),
    ({"id": "x", "question": "Q?",
      "answers": [{"text": "", "answer_start": 0}]},
     "qas[2].answers[0]: the answer text is empty"),
    ({"id": "x", "question": "Q?",
      "answers": [{"text": "Paris", "answer_start": 13}]},
     "qas[2].answers[0]: the answer 'Paris' is not the context substring at "
     "answer_start 13 (found ' Pari')"),
    ({"id": "x", "question": "Q?",
      "answers": [{"text": "Paris", "answer_start": -1}]},
     "qas[2].answers[0]: the answer 'Paris' is not the context substring at "
     "answer_start -1"),
    ({"id": "x", "question": "Q?", "is_impossible": True, "answers": []},
     "qas[2].answers: the question has no answer (an is_impossible question: "
     "pass "
     "version_2_with_negative"),
])
def test_each_content_problem_is_named(tmp_path, qa, message):
  data = copy.deepcopy(GOOD)
  data["data"][0]["paragraphs"][0]["qas"].append(qa)
  with pytest.raises(TaskError) as error:
    squad_data.read_squad_file(_write(tmp_path, data), is_training=False)
  assert f"dev-de.json: data[0].paragraphs[0].{message}" in str(error.value)


def test_empty_context_is_named(tmp_path):
  data = copy.deepcopy(GOOD)
  data["data"][1]["paragraphs"][0]["context"] = "  "
  with pytest.raises(TaskError, match=r"data\[1\]\.paragraphs\[0\]\.context: "
                     "the context is empty"):
    squad_data.read_squad_file(_write(tmp_path, data), is_training=True)


def test_skipped_questions_are_counted_per_reason(tmp_path):
  path = _write(tmp_path, _bad_content())
  evaluation = squad_data.read_squad_file(path, is_training=False,
                                          skip_bad_examples=True)
  assert [e.qas_id for e in evaluation.examples] == ["q0", "q1", "q2"]
  assert evaluation.num_questions == 10
  assert evaluation.skipped == {
      "empty_context": 1, "empty_question": 1, "duplicate_id": 1,
      "no_answer": 1, "empty_answer": 1, "answer_not_in_context": 2}
  # Training only reads the first answer, so q8 is kept.
  train = squad_data.read_squad_file(path, is_training=True,
                                     skip_bad_examples=True)
  assert [e.qas_id for e in train.examples] == ["q0", "q1", "q8", "q2"]
  assert train.skipped["answer_not_in_context"] == 1
  assert sum(train.skipped.values()) == 10 - 4


def test_nothing_usable_is_an_error(tmp_path):
  data = {"data": [{"paragraphs": [{"context": "x", "qas": [
      {"id": "a", "question": "q", "answers": []}]}]}]}
  with pytest.raises(TaskError, match=r"no usable questions \(read 1, skipped "
                     r"\{'no_answer': 1\}\)"):
    squad_data.read_squad_file(_write(tmp_path, data), is_training=True,
                               skip_bad_examples=True)


def test_squad2_impossible_questions(tmp_path):
  data = copy.deepcopy(GOOD)
  data["data"][0]["paragraphs"][0]["qas"].append(
      {"id": "q9", "question": "Where does Carlos live?", "is_impossible": True,
       "answers": [], "plausible_answers": [{"text": "Paris",
                                             "answer_start": 14}]})
  path = _write(tmp_path, data)
  read = squad_data.read_squad_file(path, is_training=True,
                                    version_2_with_negative=True)
  impossible = [e for e in read.examples if e.is_impossible]
  assert [(e.qas_id, e.answers) for e in impossible] == [("q9", ())]
  assert sum(not e.is_impossible for e in read.examples) == 3
  with pytest.raises(TaskError, match="version_2_with_negative"):
    squad_data.read_squad_file(path, is_training=True)


def test_integer_ids_become_strings(tmp_path):
  data = copy.deepcopy(GOOD)
  data["data"][1]["paragraphs"][0]["qas"][0]["id"] = 17
  read = squad_data.read_squad_file(_write(tmp_path, data), is_training=True)
  assert read.examples[-1].qas_id == "17"


def test_invalid_utf8_names_line_and_byte(squad_task, tmp_path, repo_root):
  text = json.dumps(GOOD, indent=1).encode().replace(b"Berlin.", b"Berl\xedn.")
  bad_file = tmp_path / "dev-de.json"
  bad_file.write_bytes(text)
  offset = text.index(b"\xed")
  line = text[:offset].count(b"\n") + 1
  model_dir = tmp_path / "run"
  run = predict_squad_cli(squad_task, str(bad_file), str(model_dir), repo_root)
  assert run.returncode == 1, run.stderr[-2000:]
  assert "Traceback" not in run.stderr
  assert run.stderr.splitlines()[-1] == (
      f"run_squad.py: error: {bad_file}:{line}: not valid UTF-8 (invalid "
      f"continuation byte at byte {offset} of the file); re-encode it as UTF-8 "
      "(e.g. iconv -f <its encoding> -t UTF-8)")
  assert not model_dir.exists()
