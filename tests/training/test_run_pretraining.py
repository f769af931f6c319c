"""run_pretraining.py end to end: exact resume after SIGKILL, and bad input."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from rembert_tf.data import input_pipeline
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.modeling import checkpoints
from tests.training.conftest import ROOT
from tests.training.conftest import run_pretraining_cli


def _flags(data, model_dir, steps=40, **overrides):
  values = {"config_file": data.config_file, "input_dir": data.data_dir,
            "model_dir": model_dir, "train_batch_size": 8,
            "max_seq_length": 32, "max_predictions_per_seq": 5,
            "num_train_steps": steps, "num_warmup_steps": 4,
            "learning_rate": 3e-3, "steps_per_loop": 1,
            "save_checkpoints_steps": 5, "keep_checkpoint_max": 3}
  values.update(overrides)
  return [f"--{k}={v}" for k, v in values.items()]


def _weights(checkpoint):
  reader = tf.train.load_checkpoint(checkpoint)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.startswith(("encoder/", "masked_lm/")) and "OPTIMIZER" not in k}


def test_resume_after_sigkill_ends_with_the_same_weights(mlm_data, tmp_path):
  full = run_pretraining_cli(*_flags(mlm_data, tmp_path / "full"))
  assert full.returncode == 0, full.stderr[-3000:]
  assert "training from scratch" in full.stderr

  interrupted = tmp_path / "interrupted"
  command = [sys.executable, os.path.join(ROOT, "run_pretraining.py"),
             *_flags(mlm_data, interrupted)]
  env = {**os.environ, "PYTHONPATH": ROOT}
  child = subprocess.Popen(command, cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 240
  while not (interrupted / "ckpt-10.index").exists():
    assert child.poll() is None and time.monotonic() < deadline
    time.sleep(0.005)
  child.send_signal(signal.SIGKILL)  # Mid-run: training goes on after a save.
  child.wait()
  assert child.returncode == -signal.SIGKILL
  assert not (interrupted / "metrics.json").exists()
  # The newest complete checkpoint, which the state file may not name yet.
  killed_at = checkpoints.latest_checkpoint(str(interrupted))
  assert killed_at and int(killed_at.rsplit("-", 1)[1]) < 40

  resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"resuming from {killed_at}" in resumed.stderr
  a = _weights(str(tmp_path / "full" / "ckpt-40"))
  b = _weights(str(interrupted / "ckpt-40"))
  assert a.keys() == b.keys() and len(a) > 40
  for key in a:
    np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)

  metrics = json.loads((interrupted / "metrics.json").read_text())
  assert metrics["step"] == 40 and metrics["loss"] > 0
  assert metrics["train_loop_traces"] == metrics["train_step_traces"] == 1
  encoder_keys = tf.train.load_checkpoint(
      metrics["encoder_checkpoint"]).get_variable_to_shape_map()
  assert any(k.startswith("encoder/") for k in encoder_keys)
  assert not any("output_embedding" in k or "masked_lm" in k
                 for k in encoder_keys)
  assert sorted(p.name for p in interrupted.glob("ckpt-*.index")) == [
      "ckpt-30.index", "ckpt-35.index", "ckpt-40.index"]  # keep_checkpoint_max.
  assert list((interrupted / "summaries" / "train").iterdir())


def test_init_checkpoint_loads_weights_only(mlm_data, tmp_path):
  first = run_pretraining_cli(*_flags(mlm_data, tmp_path / "a", steps=5))
  assert first.returncode == 0, first.stderr[-3000:]
  second = run_pretraining_cli(*_flags(
      mlm_data, tmp_path / "b", steps=5,
      init_checkpoint=tmp_path / "a" / "ckpt-5"))
  assert second.returncode == 0, second.stderr[-3000:]
  assert "initialising weights from --init_checkpoint" in second.stderr
  assert "fresh optimizer, step 0" in second.stderr
  assert json.loads((tmp_path / "b" / "metrics.json").read_text())["step"] == 5


@pytest.mark.parametrize("overrides, message", [
    ({"max_seq_length": 16},
     "max_seq_length is 32 in the data but 16 in training"),
    ({"max_predictions_per_seq": 7},
     "max_predictions_per_seq is 5 in the data but 7 in training"),
    ({"config_file": "/nonexistent/config.json"},
     "config file not found: /nonexistent/config.json"),
    ({"input_dir": "/nonexistent/data"}, "--input_dir: /nonexistent/data"),
    ({"num_warmup_steps": 50}, "--num_warmup_steps (50) must be in"),
    ({"train_batch_size": 0}, "--train_batch_size must be at least 1"),
    ({"distribution_strategy": "tpu"}, "--distribution_strategy=tpu needs --tpu"),
    ({"tpu": "grpc://127.0.0.1:1"},
     "--tpu='grpc://127.0.0.1:1': cannot reach the TPU"),
], ids=["seq_length", "predictions", "config", "data", "warmup", "batch",
         "tpu_missing", "tpu_unreachable"])
def test_bad_input_is_one_clear_error_before_any_step(
    mlm_data, tmp_path, overrides, message):
  result = run_pretraining_cli(*_flags(mlm_data, tmp_path / "m", **overrides))
  assert result.returncode == 1
  assert message in result.stderr
  assert "Traceback" not in result.stderr
  assert not list((tmp_path / "m").glob("ckpt-*"))


def _data_copy(data, tmp_path, edit=None):
  """A copy of the data; `edit(meta)` changes its metadata.json."""
  copy = tmp_path / "data"
  shutil.copytree(data.data_dir, copy)
  if edit:
    meta = json.loads((copy / "metadata.json").read_text(encoding="utf-8"))
    edit(meta)
    (copy / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
  return copy


def _first_shard(data, copy, language=None):
  """The first shard of `language`, by default metadata.json's first."""
  language = language or next(iter(data.metadata["languages"]))
  return copy / data.metadata["languages"][language]["shards"][0]


def _metadata_without_sentencepiece(data, tmp_path):
  copy = _data_copy(data, tmp_path, lambda meta: meta.pop("sentencepiece"))
  return {"input_dir": copy}, (
      f"--input_dir: {copy}/metadata.json: the key 'sentencepiece' is missing "
      "(an incomplete or hand-edited file); point the data path at an "
      "output_dir of create_pretraining_data.py, or regenerate it")


def _metadata_claiming_shorter_records(data, tmp_path):
  copy = _data_copy(data, tmp_path,
                    lambda meta: meta.update(max_seq_length=16))
  return {"input_dir": copy, "max_seq_length": 16}, (
      f"--input_dir: {_first_shard(data, copy)}: its first record does not "
      f"match {copy}/metadata.json (max_seq_length 16, max_predictions_per_seq"
      " 5): input_word_ids has 32 values, not 16; input_mask has 32 values, "
      "not 16; input_type_ids has 32 values, not 16; the metadata does not "
      "describe these records: regenerate the data with "
      "create_pretraining_data.py")


def _first_record_truncated(data, tmp_path):
  copy = _data_copy(data, tmp_path)
  shard = _first_shard(data, copy)
  shard.write_bytes(shard.read_bytes()[:30])
  return {"input_dir": copy}, (
      f"--input_dir: {shard}: truncated record at 0: the file is truncated or "
      f"corrupt; {input_pipeline.REGENERATE_SHARD}")


def _classifier_data(data, tmp_path):
  tsv_dir = tmp_path / "xnli"
  tsv_dir.mkdir()
  for name in ("train-en.tsv", "dev-en.tsv"):
    (tsv_dir / name).write_text("A cat.\tAn animal.\tentailment\n",
                                encoding="utf-8")
  out = tmp_path / "classifier_data"
  classifier_features.create_classifier_data(
      "xnli", str(tsv_dir), data.metadata["sentencepiece"]["model_file"],
      str(out), max_seq_length=32, languages=["en"], eval_splits=("dev",))
  return {"input_dir": out}, (
      f"--input_dir: {out}/metadata.json: this is classifier data "
      "(create_classifier_data.py), not pre-training data; point the data "
      "path at an output_dir of create_pretraining_data.py")


def _model_dir_is_a_file(data, tmp_path):
  del data  # Unused.
  model_dir = tmp_path / "m"  # The test's --model_dir.
  model_dir.write_text("a file", encoding="utf-8")
  return {}, (
      f"--model_dir={model_dir}: {model_dir} is a file, not a directory; pass "
      "a directory (it is created if missing)")


def _config_with_other_special_ids(data, tmp_path):
  config = json.loads(open(data.config_file, encoding="utf-8").read())
  cls = data.metadata["sentencepiece"]["special_ids"]["cls"]
  other = tmp_path / "config.json"
  other.write_text(json.dumps({**config, "bos_token_id": cls + 1}),
                   encoding="utf-8")
  return {"config_file": other}, (
      f"--input_dir: {data.data_dir}/metadata.json: cls id is {cls} in the "
      f"data but {cls + 1} in training. Regenerate the data with matching "
      "flags or change the training config to match.")


@pytest.mark.parametrize("case", [
    _metadata_without_sentencepiece, _metadata_claiming_shorter_records,
    _first_record_truncated, _classifier_data, _model_dir_is_a_file,
    _config_with_other_special_ids], ids=lambda case: case.__name__[1:])
def test_bad_data_or_model_dir_is_one_line_naming_file_and_fix(
    mlm_data, tmp_path, case):
  overrides, message = case(mlm_data, tmp_path)
  result = run_pretraining_cli(*_flags(mlm_data, tmp_path / "m", **overrides))
  assert result.returncode == 1, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  assert [line for line in result.stderr.splitlines() if " error: " in line
          ] == [f"run_pretraining.py: error: {message}"]
  assert not (tmp_path / "m").is_dir()  # Failed before anything was written.


def test_shard_truncated_mid_record_is_named_when_read(mlm_data, tmp_path):
  copy = _data_copy(mlm_data, tmp_path)
  weights = mlm_data.metadata["sampling"]["weights"]
  # The two most sampled languages: the first steps read one of them fully
  # (into the shuffle buffer). Their first records are intact.
  damaged = sorted(str(_first_shard(mlm_data, copy, lang))
                   for lang in sorted(weights, key=weights.get)[-2:])
  for shard in damaged:
    with open(shard, "r+b") as f:
      f.truncate(os.path.getsize(shard) - 100)
  result = run_pretraining_cli(*_flags(mlm_data, tmp_path / "m", steps=5,
                                       input_dir=copy))
  assert result.returncode == 1, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  (line,) = [line for line in result.stderr.splitlines() if " error: " in line]
  assert line.startswith(f"run_pretraining.py: error: --input_dir={copy}: ")
  assert line.endswith("): truncated or corrupt; "
                       f"{input_pipeline.REGENERATE_SHARD}")
  assert sorted(re.findall(r"(\S+) \(truncated record at \d+\)", line)
                ) == damaged
  assert not (tmp_path / "m" / "metrics.json").exists()


def test_unknown_strategy_and_other_architecture(mlm_data, tmp_path):
  result = run_pretraining_cli(*_flags(mlm_data, tmp_path / "m",
                                       distribution_strategy="pipeline"))
  assert result.returncode != 0
  assert "distribution_strategy" in result.stderr
  first = run_pretraining_cli(*_flags(mlm_data, tmp_path / "m", steps=5))
  assert first.returncode == 0, first.stderr[-3000:]
  config = json.loads(open(mlm_data.config_file).read())
  vocab = config["vocab_size"]
  bigger_vocab = tmp_path / "vocab.json"
  bigger_vocab.write_text(json.dumps({**config, "vocab_size": vocab + 1}))
  result = run_pretraining_cli(*_flags(mlm_data, tmp_path / "v", steps=5,
                                       config_file=bigger_vocab))
  assert result.returncode == 1
  assert (f"vocab_size is {vocab} in the data but {vocab + 1} in training"
          in result.stderr)
  other_config = tmp_path / "other.json"
  other_config.write_text(json.dumps({**config, "input_embedding_size": 8}))
  result = run_pretraining_cli(*_flags(mlm_data, tmp_path / "m", steps=10,
                                       config_file=other_config))
  assert result.returncode == 1
  assert "word_embeddings/embeddings" in result.stderr
  assert "in the checkpoint but [" in result.stderr
  assert not (tmp_path / "m" / "ckpt-10.index").exists()


def test_xla_and_bfloat16_track_the_float32_loss(mlm_data, tmp_path):
  losses = {}
  for name, extra in [("float32", {}), ("xla", {"jit_compile": True}),
                      ("bfloat16", {"dtype": "bfloat16"})]:
    result = run_pretraining_cli(*_flags(
        mlm_data, tmp_path / name, steps=6, steps_per_loop=3,
        save_checkpoints_steps=6, **extra))
    assert result.returncode == 0, result.stderr[-3000:]
    losses[name] = json.loads((tmp_path / name / "metrics.json").read_text())[
        "loss"]
  assert losses["xla"] == pytest.approx(losses["float32"], rel=1e-3)
  assert losses["bfloat16"] != losses["float32"]
  assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=3e-2)


@pytest.mark.parametrize("preset", ["rembert_pretraining", "base_pretraining",
                                    "demo_pretraining"])
def test_flag_presets_parse_and_load_their_config(mlm_data, tmp_path, preset):
  args = [f"--flagfile={ROOT}/flags/{preset}.flags",
          "--input_dir=/nonexistent/data", f"--model_dir={tmp_path}"]
  if preset == "demo_pretraining":
    args.append(f"--config_file={mlm_data.config_file}")
  result = run_pretraining_cli(*args)
  assert result.returncode == 1
  # Flags and config were accepted; the run stopped at the (absent) data.
  assert "error: --input_dir: /nonexistent/data" in result.stderr


def test_table14_preset_values():
  values = dict(line.lstrip("-").split("=", 1) for line in open(
      f"{ROOT}/flags/rembert_pretraining.flags").read().splitlines()
                if line.startswith("--"))
  assert {k: float(values[k]) for k in (
      "learning_rate", "train_batch_size", "num_train_steps",
      "num_warmup_steps", "adam_beta_1", "adam_beta_2", "adam_epsilon",
      "weight_decay", "clip_norm")} == {
          "learning_rate": 2e-4, "train_batch_size": 2048,
          "num_train_steps": 1.76e6, "num_warmup_steps": 15000,
          "adam_beta_1": 0.9, "adam_beta_2": 0.999, "adam_epsilon": 1e-6,
          "weight_decay": 0.01, "clip_norm": 1.0}
  assert values["config_file"] == "rembert"
