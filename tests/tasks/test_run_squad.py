"""QA fine-tuning end to end: predictions, metrics, layers, resume, errors."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf.modeling import param_count
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks.losses import span_sums
from rembert_tf.tasks import evaluation
from rembert_tf.tasks.squad import data as squad_data
from rembert_tf.tasks.squad import metrics as squad_metrics
from rembert_tf.tasks.squad import run as squad_training
from rembert_tf.tasks.errors import TaskError
from tests.tasks.conftest import LANGUAGES
from tests.tasks.conftest import assert_bottom_layers_fine_tuned
from tests.tasks.conftest import wider_config_file
from tests.tasks.conftest import predict_squad_cli

ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _gold(squad_task, lang):
  return squad_data.read_squad_file(
      squad_task.predict_pattern().format(lang=lang), is_training=False)


def _dev_json(squad_task, lang="de"):
  with open(squad_task.predict_pattern().format(lang=lang),
            encoding="utf-8") as f:
    return json.load(f)


def _write(path, data):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
  return str(path)


def test_span_sums_by_hand():
  start = tf.math.log([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
  end = tf.math.log([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])
  # Example 2's end is outside the 3-token sequence: ignored.
  sums = span_sums(start, end, tf.constant([0, 2, 1]), tf.constant([1, 1, 5]))
  expected = (-np.log(0.7) - np.log(0.6)) / 2 + (
      -np.log(0.8) - np.log(0.25)) / 2
  np.testing.assert_allclose(sums.loss.numpy(), expected, rtol=1e-6)
  assert sums.correct.numpy() == 1  # Example 1's end (argmax 0) is wrong.
  assert sums.weight.numpy() == 2


def test_predictions_nbest_and_results_agree(squad_run, squad_task):
  model_dir, results = squad_run
  assert results["step"] == results["num_train_steps"] > 10
  assert results["train"]["loss"] > 0
  evaluated = results["eval"]
  assert evaluated["split"] == "dev" and evaluated["normalization"] == "squad"
  assert list(evaluated["languages"]) == list(LANGUAGES)
  for lang in LANGUAGES:
    directory = os.path.join(model_dir, "predictions", lang)
    with open(os.path.join(directory, "predictions.json"),
              encoding="utf-8") as f:
      predictions = json.load(f)
    with open(os.path.join(directory, "nbest_predictions.json"),
              encoding="utf-8") as f:
      nbest = json.load(f)
    gold = _gold(squad_task, lang)
    contexts = {e.qas_id: e.context for e in gold.examples}
    assert sorted(predictions) == sorted(nbest) == sorted(contexts)
    for qas_id, answer in predictions.items():
      entries = nbest[qas_id]
      assert answer == entries[0]["text"] and answer in contexts[qas_id]
      assert 1 <= len(entries) <= 20
      assert sum(e["probability"] for e in entries) == pytest.approx(1.0)
      scores = [e["start_logit"] + e["end_logit"] for e in entries]
      assert scores == sorted(scores, reverse=True)
    gold_answers = {e.qas_id: [a.text for a in e.answers]
                    for e in gold.examples}
    assert evaluated["languages"][lang] == squad_metrics.evaluate(
        gold_answers, predictions)
    data = results["data"]["predict"][lang]
    assert data["questions"] == data["examples"] == len(gold.examples)
    features = os.path.join(model_dir, "features", "predict", lang,
                            f"dev-{lang}", "features.tfrecord")
    assert data["features"] == evaluation.count_records(features) > (
        data["examples"])  # Several windows per context.
  assert evaluated["average"] == squad_metrics.average(evaluated["languages"])
  assert squad_metrics.results_table("dev", evaluated["languages"])


def test_layer_dropping_keeps_the_bottom_layers(squad_run, squad_task):
  model_dir, results = squad_run
  full = RemBertConfig.from_json_file(squad_task.config_file)
  kept = RemBertConfig.from_json_file(os.path.join(model_dir, "config.json"))
  assert (full.num_hidden_layers, kept.num_hidden_layers) == (3, 2)
  assert results["parameters"] == {
      "pretraining_params": param_count.pretraining_params(full),
      "finetuning_params": param_count.finetuning_params(full, 2),
      "pooler_params": 0, "head_params": (full.hidden_size + 1) * 2,
      "layers": 2}
  names = assert_bottom_layers_fine_tuned(
      model_dir, squad_task.encoder_checkpoint, max_change=0.2)
  assert not [k for k in names if "pooler" in k]


def test_rerun_resumes_instead_of_retraining(squad_run, squad_task):
  model_dir, first = squad_run
  before = tf.train.latest_checkpoint(model_dir)
  tfrecord = os.path.join(model_dir, "features", "train", "train-en",
                          "features.tfrecord")
  stamp = os.stat(tfrecord).st_mtime_ns
  results = squad_training.run_squad(squad_task.params(
      model_dir, num_layers_to_keep=2, do_eval=False))
  assert results["step"] == first["step"]
  assert results["train"] == {}  # No training loop ran.
  assert tf.train.latest_checkpoint(model_dir) == before
  assert os.stat(tfrecord).st_mtime_ns == stamp  # Features reused.


def test_other_feature_settings_are_refused(squad_run, squad_task):
  model_dir, _ = squad_run
  with open(os.path.join(model_dir, "eval_results.json")) as f:
    saved = f.read()
  with pytest.raises(TaskError, match=r"dev-en holds features of other "
                     r"settings or input: max_seq_length 48 \(now 40\)\. "
                     r".* pass --overwrite_features"):
    squad_training.run_squad(squad_task.params(
        model_dir, num_layers_to_keep=2, max_seq_length=40))
  with open(os.path.join(model_dir, "eval_results.json")) as f:
    assert f.read() == saved


def test_evaluation_only_with_mlqa_normalisation(squad_run, squad_task,
                                                  tmp_path):
  model_dir, _ = squad_run
  again = squad_training.run_squad(squad_task.params(
      model_dir, num_layers_to_keep=2, do_train=False, train_file=None,
      eval_normalization="mlqa", predict_languages=("zh",)))
  zh = again["eval"]["languages"]["zh"]
  assert zh["normalization"] == "mlqa-zh"
  with open(os.path.join(model_dir, "predictions", "zh",
                         "predictions.json"), encoding="utf-8") as f:
    predictions = json.load(f)
  gold = {e.qas_id: [a.text for a in e.answers]
          for e in _gold(squad_task, "zh").examples}
  assert zh == squad_metrics.evaluate(gold, predictions, language="zh")
  # A plain file is one language, "en" unless named.
  files = squad_training.predict_files(squad_task.params(
      str(tmp_path), predict_file=squad_task.squad.squad_file("dev-vi"),
      predict_languages=()))
  assert files == {"en": squad_task.squad.squad_file("dev-vi")}


def test_bad_answers_fail_or_are_skipped_and_counted(squad_task, tmp_path):
  data = _dev_json(squad_task)
  paragraph = data["data"][1]["paragraphs"][0]
  paragraph["qas"][0]["answers"][0]["answer_start"] += 2
  data["data"][2]["paragraphs"][0]["context"] = " "
  pattern = _write(tmp_path / "bad" / "dev-de.json", data).replace(
      "dev-de", "dev-{lang}")
  model_dir = str(tmp_path / "run")
  params = squad_task.params(model_dir, predict_file=pattern,
                             predict_languages=("de",), do_train=False)
  with pytest.raises(TaskError) as error:
    squad_training.run_squad(params)
  assert str(error.value).startswith(
      f"{tmp_path}/bad/dev-de.json: data[1].paragraphs[0].qas[0].answers[0]: "
      "the answer ")
  assert "pass skip_bad_examples (--skip_bad_examples)" in str(error.value)
  assert not os.path.exists(model_dir)
  results = squad_training.run_squad(
      dataclasses.replace(params, skip_bad_examples=True))
  de = results["data"]["predict"]["de"]
  empty = len(data["data"][2]["paragraphs"][0]["qas"])
  assert de["skipped"] == {"answer_not_in_context": 1,
                           "empty_context": empty}
  assert de["examples"] == de["questions"] - 1 - empty
  assert results["eval"]["languages"]["de"]["num_questions"] == de["examples"]


def test_question_longer_than_the_window_is_cut_and_counted(squad_task,
                                                            tmp_path):
  data = _dev_json(squad_task, "en")
  data["data"] = data["data"][:2]
  qa = data["data"][0]["paragraphs"][0]["qas"][0]
  qa["question"] = " ".join([qa["question"]] * 20)  # Far over 48 tokens.
  path = _write(tmp_path / "dev-en.json", data)
  results = squad_training.run_squad(squad_task.params(
      str(tmp_path / "run"), predict_file=path, predict_languages=(),
      do_train=False))
  en = results["data"]["predict"]["en"]
  assert en["truncated_questions"] >= 1 and en["skipped"] == {}
  assert results["eval"]["languages"]["en"]["num_questions"] == en["examples"]


@pytest.mark.parametrize("changes, message", [
    ({"predict_languages": ("de", "xx")},
     r"--predict_file=.*dev-\{lang\}\.json: .*dev-xx\.json \(language xx\) "
     r"not found"),
    ({"predict_languages": ()},
     r"has a \{lang\} placeholder; list the languages with "
     r"--predict_languages"),
    ({"max_query_length": 46},
     r"--max_query_length=46 \+ 3 must be below --max_seq_length=48"),
    ({"max_seq_length": 80},
     r"--max_seq_length=80 exceeds the config's max_position_embeddings"),
    ({"train_file": None}, r"--do_train needs --train_file"),
    ({"eval_normalization": "xquad"}, r"--eval_normalization='xquad'"),
])
def test_bad_flags_fail_before_anything_is_written(squad_task, tmp_path,
                                                   changes, message):
  model_dir = str(tmp_path / "run")
  with pytest.raises(TaskError, match=message):
    squad_training.run_squad(squad_task.params(model_dir, **changes))
  assert not os.path.exists(model_dir)


def test_sentencepiece_model_of_another_vocabulary(squad_task, tmp_path):
  config = RemBertConfig.from_json_file(squad_task.config_file)
  other = str(tmp_path / "other.json")
  config.replace(vocab_size=config.vocab_size + 5,
                 eos_token_id=config.eos_token_id + 1).to_json_file(other)
  model_dir = str(tmp_path / "run")
  with pytest.raises(TaskError) as error:
    squad_training.run_squad(squad_task.params(model_dir, config_file=other))
  vocab = squad_task.squad.vocab
  assert str(error.value) == (
      f"--sp_model_file={squad_task.squad.sp_model} does not match "
      f"--config_file={other}: vocabulary size {vocab.vocab_size} (the "
      f"config has {vocab.vocab_size + 5}); [SEP] id {vocab.special.sep} (the "
      f"config has {vocab.special.sep + 1}). Pass the SentencePiece model the "
      "encoder was pre-trained with.")
  assert not os.path.exists(model_dir)
  with pytest.raises(TaskError, match=r"^--sp_model_file: .*tiny\.json is not "
                     "a SentencePiece model"):
    squad_training.run_squad(squad_task.params(
        model_dir, sp_model_file=squad_task.config_file))


def test_checkpoint_of_another_config_is_refused(squad_task, tmp_path):
  config_file = wider_config_file(squad_task.config_file, tmp_path)
  model_dir = str(tmp_path / "run")
  with pytest.raises(CheckpointMismatchError, match=r"has shape .* in the "
                     r"checkpoint but .* in the model"):
    squad_training.run_squad(squad_task.params(model_dir,
                                               config_file=config_file))
  # Only complete feature directories (a cache) were written.
  assert sorted(os.listdir(model_dir)) == ["features"]
  assert tf.train.latest_checkpoint(model_dir) is None


def test_script_exits_1_with_one_message(squad_task, tmp_path, repo_root):
  data = _dev_json(squad_task)
  data["data"][0]["paragraphs"][0]["qas"][1]["question"] = 7
  bad_file = _write(tmp_path / "dev-de.json", data)
  model_dir = str(tmp_path / "run")
  run = predict_squad_cli(squad_task, bad_file, model_dir, repo_root)
  assert run.returncode == 1, run.stderr[-2000:]
  assert run.stderr.splitlines()[-1] == (
      f"run_squad.py: error: {bad_file}: data[0].paragraphs[0].qas[1]."
      "question: expected a string, found an int 7")
  assert "Traceback" not in run.stderr
  assert not os.path.exists(model_dir)
