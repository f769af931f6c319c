"""Fine-tuning end to end: results, predictions, layer dropping, resume, errors."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf import file_io
from rembert_tf.modeling import param_count
from rembert_tf.modeling.checkpoints import CheckpointMismatchError
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks.classification import run as classifier_training
from rembert_tf.tasks.errors import TaskError
from tests.tasks.conftest import LANGUAGES
from tests.tasks.conftest import assert_bottom_layers_fine_tuned
from tests.tasks.conftest import wider_config_file

ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_results_cover_every_language(trained_run):
  model_dir, results = trained_run
  dev = results["eval"]["dev"]
  assert results["step"] == results["num_train_steps"] == 6  # 48 / 8, 1 epoch.
  assert sorted(dev["accuracy"]) == sorted(LANGUAGES)
  assert dev["examples"] == {lang: 10 for lang in LANGUAGES}
  assert dev["average"] == pytest.approx(np.mean(list(dev["accuracy"].values())))
  for lang in LANGUAGES:
    with open(os.path.join(model_dir, "predictions", f"dev-{lang}.tsv"),
              encoding="utf-8") as f:
      rows = [line.rstrip("\n").split("\t") for line in f]
    assert rows[0] == ["index", "label", "prediction", "p_contradiction",
                       "p_entailment", "p_neutral"]
    assert len(rows) == 11
    correct = sum(r[1] == r[2] for r in rows[1:])
    assert correct / 10 == pytest.approx(dev["accuracy"][lang])
    assert all(abs(sum(map(float, r[3:])) - 1) < 1e-4 for r in rows[1:])


def test_layer_dropping_keeps_the_bottom_layers(trained_run, task_fixture):
  model_dir, results = trained_run
  full = RemBertConfig.from_json_file(task_fixture.config_file)
  kept = RemBertConfig.from_json_file(os.path.join(model_dir, "config.json"))
  assert (full.num_hidden_layers, kept.num_hidden_layers) == (3, 2)
  assert results["parameters"]["finetuning_params"] == (
      param_count.finetuning_params(full, 2))
  assert results["parameters"]["pretraining_params"] == (
      param_count.pretraining_params(full))
  # Fine-tuning started from the pre-trained layer 0, then moved it.
  assert_bottom_layers_fine_tuned(model_dir, task_fixture.encoder_checkpoint,
                                  max_change=0.1)


def test_rerun_resumes_instead_of_retraining(trained_run, task_fixture):
  model_dir, _ = trained_run
  before = tf.train.latest_checkpoint(model_dir)
  results = classifier_training.run_classifier(task_fixture.params(
      model_dir, num_layers_to_keep=2, do_eval=False))
  assert results["step"] == 6
  assert results["train"] == {}  # No training loop ran.
  assert tf.train.latest_checkpoint(model_dir) == before


def test_checkpoint_of_another_config_is_refused(task_fixture, tmp_path):
  config_file = wider_config_file(task_fixture.config_file, tmp_path)
  model_dir = str(tmp_path / "run")
  with pytest.raises(CheckpointMismatchError, match=r"has shape .* in the "
                     r"checkpoint but .* in the model"):
    classifier_training.run_classifier(task_fixture.params(
        model_dir, config_file=config_file))
  assert not os.path.exists(model_dir)


def test_sequence_length_mismatch_is_refused(task_fixture, tmp_path):
  model_dir = str(tmp_path / "run")
  with pytest.raises(file_io.MetadataError,
                     match="max_seq_length is 32 in the data but 24"):
    classifier_training.run_classifier(task_fixture.params(
        model_dir, max_seq_length=24))
  assert not os.path.exists(model_dir)


def test_scripts_exit_1_with_one_message(task_fixture, tmp_path, repo_root):
  model_dir = str(tmp_path / "run")
  run = subprocess.run(
      [sys.executable, "run_classifier.py", f"--config_file={task_fixture.config_file}",
       f"--data_dir={task_fixture.data_dir}", f"--model_dir={model_dir}",
       "--max_seq_length=24"],
      cwd=repo_root, env=ENV, capture_output=True, text=True, check=False)
  assert run.returncode == 1
  assert run.stderr.splitlines()[-1].startswith(
      "run_classifier.py: error: ") and "max_seq_length" in run.stderr
  assert not os.path.exists(model_dir)
  output_dir = str(tmp_path / "data")
  prep = subprocess.run(
      [sys.executable, "create_classifier_data.py", "--task=pawsx",
       f"--data_dir={os.path.join(task_fixture.corpus, 'xnli')}",
       f"--sp_model_file={task_fixture.sp_model}",
       f"--output_dir={output_dir}", "--languages=en"],
      cwd=repo_root, env=ENV, capture_output=True, text=True, check=False)
  assert prep.returncode == 1
  assert "label 'neutral' is not in the task's label set ['0', '1']" in (
      prep.stderr)
  assert not os.path.exists(output_dir)
  with open(os.path.join(task_fixture.data_dir, "metadata.json")) as f:
    assert json.load(f)["task"] == "xnli"


def test_interrupted_run_resumes_at_its_checkpoint(task_fixture, tmp_path,
                                                   caplog):
  model_dir = str(tmp_path / "run")
  half = classifier_training.run_classifier(task_fixture.params(
      model_dir, num_train_epochs=0.5, do_eval=False))
  assert half["step"] == 3
  with caplog.at_level(logging.INFO, logger="absl"):
    full = classifier_training.run_classifier(task_fixture.params(
        model_dir, num_train_epochs=1.0, do_eval=False))
  assert full["step"] == 6 and full["train"]["loss"] > 0
  log = caplog.text
  assert f"resuming from {os.path.join(model_dir, 'ckpt-3')} (step 3)" in log
  assert "init_checkpoint" not in log.split("resuming")[1]
  assert "parameters: pre-training " in log and ", fine-tuning " in log
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-6")


@pytest.mark.parametrize("name, flags", [
    ("train-en.tfrecord", []), ("dev-de.tfrecord", ["--nodo_train"])],
    ids=["training", "evaluation"])
def test_truncated_tfrecord_is_named_with_the_fix(task_fixture, tmp_path,
                                                  repo_root, name, flags):
  data_dir = tmp_path / "data"
  shutil.copytree(task_fixture.data_dir, data_dir)
  damaged = data_dir / name
  with open(damaged, "r+b") as f:
    f.truncate(os.path.getsize(damaged) - 20)  # Mid-way through a record.
  model_dir = tmp_path / "run"
  run = subprocess.run(
      [sys.executable, "run_classifier.py",
       f"--config_file={task_fixture.config_file}", f"--data_dir={data_dir}",
       f"--model_dir={model_dir}",
       f"--init_checkpoint={task_fixture.encoder_checkpoint}",
       "--max_seq_length=32", "--train_batch_size=8", "--eval_batch_size=8",
       "--distribution_strategy=one_device", "--nodo_export", *flags],
      cwd=repo_root, env=ENV, capture_output=True, text=True, check=False)
  assert run.returncode == 1, run.stderr[-3000:]
  assert "Traceback" not in run.stderr
  (line,) = [l for l in run.stderr.splitlines() if " error: " in l]
  assert re.fullmatch(
      rf"run_classifier.py: error: {damaged}: truncated record at \d+: the "
      r"file is truncated or corrupt; re-run create_classifier_data.py to "
      r"write it again", line), line
  written = [p.name for p in model_dir.rglob("*")] if model_dir.exists() else []
  assert not [n for n in written if n.endswith(".incomplete") or n in (
      classifier_training.RESULTS_FILE, "dev-de.tsv")], written
