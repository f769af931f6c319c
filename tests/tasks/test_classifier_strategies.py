"""Fine-tuning under the strategies and precisions pre-training supports."""

import json
import os
import subprocess
import sys

import pytest

from rembert_tf.tasks.classification import run as classifier_training
from tests.conftest import loopback_tf_configs

ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_two_workers_train_together_and_only_the_chief_writes(
    task_fixture, tmp_path, repo_root):
  model_dir = tmp_path / "mw"
  procs = []
  for tf_config in loopback_tf_configs(2):
    procs.append(subprocess.Popen(
        [sys.executable, "run_classifier.py",
         f"--config_file={task_fixture.config_file}",
         f"--data_dir={task_fixture.data_dir}", f"--model_dir={model_dir}",
         f"--init_checkpoint={task_fixture.encoder_checkpoint}",
         "--max_seq_length=32", "--train_batch_size=8", "--eval_batch_size=8",
         "--num_train_epochs=0.5", "--steps_per_loop=3",
         "--save_checkpoints_steps=3", "--learning_rate=1e-3",
         "--nodo_export"],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**ENV, "TF_CONFIG": tf_config}))
  outputs = [p.communicate(timeout=300) for p in procs]
  for proc, (_, err) in zip(procs, outputs):
    assert proc.returncode == 0, err[-3000:]
    assert ("Strategy: 2 replicas, 1 micro-batch(es) of 4 examples each"
            in err)
  chief, other = (json.loads(out[out.index("{"):]) for out, _ in outputs)
  assert chief["step"] == other["step"] == 3
  assert chief["train"]["loss"] == other["train"]["loss"]  # One global loss.
  # Every worker scored every example with the same weights.
  assert chief["eval"] == other["eval"]
  assert sum(chief["eval"]["dev"]["examples"].values()) == 40
  written = json.loads((model_dir / classifier_training.RESULTS_FILE)
                       .read_text())
  assert written["eval"] == chief["eval"]
  assert sorted(p.name for p in model_dir.glob("ckpt-*.index")) == [
      "ckpt-3.index"]
  assert len(list((model_dir / "predictions").iterdir())) == 4
  assert not list(model_dir.glob("worker-*"))


def test_bfloat16_and_xla_track_the_float32_loss(task_fixture, tmp_path):
  losses = {}
  for name, changes in [("float32", {}), ("bfloat16", {"dtype": "bfloat16"}),
                        ("xla", {"jit_compile": True})]:
    results = classifier_training.run_classifier(task_fixture.params(
        str(tmp_path / name), do_eval=False, **changes))
    losses[name] = results["train"]["loss"]
    assert results["train_step_traces"] == 1
  assert losses["xla"] == pytest.approx(losses["float32"], rel=1e-3)
  assert losses["bfloat16"] != losses["float32"]
  assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=3e-2)
