"""Mirrored equals one device; two real workers agree; batches must divide."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.conftest import loopback_tf_configs
from tests.training.conftest import ROOT
from tests.training.conftest import run_pretraining_cli

# Runs in a fresh process: logical CPU devices must be set before TF starts.
_MIRRORED_VS_ONE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import dataclasses
    from rembert_tf.configs import load_config
    from rembert_tf.training import distribution
    from rembert_tf.pretraining import run as pretraining
    from rembert_tf.training.input_feed import InputFeed
    from rembert_tf.data import input_pipeline
    params = pretraining.PretrainingParams(
        config_file=sys.argv[1], input_dir=sys.argv[2], model_dir="unused",
        train_batch_size=8, max_seq_length=32, max_predictions_per_seq=5,
        num_train_steps=10, num_warmup_steps=0, learning_rate=1e-2)
    batch = next(iter(input_pipeline.make_pretraining_dataset(
        sys.argv[2], batch_size=8, max_seq_length=32, max_predictions_per_seq=5,
        seed=0)))
    results = {}
    for name in ("one_device", "mirrored"):
      trainer = pretraining.build_trainer(
          dataclasses.replace(params, distribution_strategy=name, seed=7),
          load_config(sys.argv[1]))
      strategy = trainer.strategy
      feed = InputFeed(strategy,
                       lambda _: (lambda ctx: tf.data.Dataset.from_tensors(
                           batch).repeat()), 8, 0)
      @tf.function
      def step():
        strategy.run(trainer.step.replica_train_step, args=(feed.next(),))
      step(); step()
      results[name] = {
          "replicas": strategy.num_replicas_in_sync,
          "weights": [v.numpy().tolist()
                      for v in trainer.model.trainable_variables],
          "loss": trainer.step.read_and_reset_metrics()[0]}
    mirrored = distribution.make_strategy("mirrored")
    for flag in ("train_batch_size", "eval_batch_size"):
      try:
        distribution.per_replica_batch_size(7, mirrored, flag=flag)
      except distribution.StrategyError as e:
        results[flag + "_error"] = str(e)
    print(json.dumps(results))
""")


def test_mirrored_over_two_cpus_equals_one_device(mlm_data):
  result = subprocess.run(
      [sys.executable, "-c", _MIRRORED_VS_ONE, mlm_data.config_file,
       mlm_data.data_dir], cwd=ROOT, capture_output=True, text=True,
      timeout=300, env={**os.environ, "PYTHONPATH": ROOT}, check=True)
  results = json.loads(result.stdout.strip().splitlines()[-1])
  one, mirrored = results["one_device"], results["mirrored"]
  assert (one["replicas"], mirrored["replicas"]) == (1, 2)
  assert one["loss"] > 0 and abs(one["loss"] - mirrored["loss"]) < 1e-5
  for a, b in zip(one["weights"], mirrored["weights"]):
    np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-5)
  assert "--train_batch_size=7 does not divide over 2 replicas" in (
      results["train_batch_size_error"])
  assert "--eval_batch_size=7 does not divide over 2 replicas" in (
      results["eval_batch_size_error"])


def test_two_workers_train_and_agree(mlm_data, tmp_path):
  procs = []
  for tf_config in loopback_tf_configs(2):
    procs.append(subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "run_pretraining.py"),
         f"--config_file={mlm_data.config_file}",
         f"--input_dir={mlm_data.data_dir}", f"--model_dir={tmp_path / 'mw'}",
         "--train_batch_size=8", "--max_seq_length=32",
         "--max_predictions_per_seq=5", "--num_train_steps=4",
         "--num_warmup_steps=1", "--steps_per_loop=2",
         "--save_checkpoints_steps=4"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": ROOT,
             "TF_CONFIG": tf_config}))
  outputs = [p.communicate(timeout=300) for p in procs]
  for proc, (out, err) in zip(procs, outputs):
    assert proc.returncode == 0, err[-3000:]
    assert "MultiWorkerMirroredStrategy" in err
  chief, other = (json.loads(out[out.index("{"):]) for out, _ in outputs)
  assert chief["step"] == other["step"] == 4
  assert chief["loss"] == other["loss"]  # All-reduced: the same global loss.
  assert os.path.exists(tmp_path / "mw" / "ckpt-4.index")


_ONEDNN_STATE = textwrap.dedent("""
    import json, os
    import rembert_tf
    chosen = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    from tensorflow.python.util import _pywrap_util_port
    from rembert_tf.training import distribution
    print(json.dumps([chosen, _pywrap_util_port.IsMklEnabled(),
                      distribution.onednn_state()]))
""")


def _onednn_state(value):
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  if value is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = value
  out = subprocess.run([sys.executable, "-c", _ONEDNN_STATE], cwd=ROOT,
                       env=env, capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_leaves_onednn_to_tensorflow_and_the_log_says_who_chose():
  chosen, enabled, line = _onednn_state(None)
  assert chosen is None  # `import rembert_tf` set nothing.
  assert line == (f"oneDNN CPU kernels {'on' if enabled else 'off'} "
                  "(TensorFlow's default for this CPU; set "
                  "TF_ENABLE_ONEDNN_OPTS=1 or 0 to choose)")
  for value, state in (("0", "off"), ("1", "on")):
    chosen, enabled, line = _onednn_state(value)
    assert (chosen, enabled) == (value, value == "1")
    assert line == f"oneDNN CPU kernels {state} (TF_ENABLE_ONEDNN_OPTS={value})"
