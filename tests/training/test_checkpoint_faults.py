"""Checkpoint faults: a kill while the state file is written, a save's
leftovers, a truncated latest checkpoint; the run still ends exactly right."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.lib.io import file_io as tf_file_io

from rembert_tf.pretraining import run as pretraining


class _Killed(Exception):
  """Stands for the process dying at that point: nothing after it runs."""


def _params(data, model_dir, steps):
  return pretraining.PretrainingParams(
      config_file=data.config_file, input_dir=data.data_dir,
      model_dir=str(model_dir), train_batch_size=8, max_seq_length=32,
      max_predictions_per_seq=5, num_train_steps=steps, num_warmup_steps=4,
      learning_rate=3e-3, steps_per_loop=1, save_checkpoints_steps=5,
      keep_checkpoint_max=5)


def _weights(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.startswith(("encoder/", "masked_lm/")) and "OPTIMIZER" not in k}


def _kill_at_state_write(monkeypatch, step):
  """The state file of the save at `step` is left half-written: its temporary
  exists, the file itself still names the previous checkpoint."""
  real = tf_file_io.atomic_write_string_to_file

  def write(filename, contents, overwrite=True):
    if os.path.basename(filename) == "checkpoint" and f"ckpt-{step}\"" in (
        contents.splitlines()[0]):
      with open(filename + ".tmp1234", "w") as f:
        f.write(contents[:10])
      raise _Killed()
    return real(filename, contents, overwrite)
  monkeypatch.setattr(tf_file_io, "atomic_write_string_to_file", write)


def test_resume_skips_stale_state_leftovers_and_a_truncated_checkpoint(
    mlm_data, tmp_path, monkeypatch, caplog):
  pretraining.run_pretraining(_params(mlm_data, tmp_path / "reference", 20))
  run_dir = tmp_path / "faulty"

  # 1. Killed while the state file of the step-15 save was written.
  with monkeypatch.context() as patch:
    _kill_at_state_write(patch, 15)
    with pytest.raises(_Killed):
      pretraining.run_pretraining(_params(mlm_data, run_dir, 20))
  assert tf.train.latest_checkpoint(str(run_dir)).endswith("ckpt-10")
  assert (run_dir / "checkpoint.tmp1234").exists()

  # 2. The newer complete ckpt-15 wins over the state file; the temporary goes.
  with monkeypatch.context() as patch:
    _kill_at_state_write(patch, 20)
    with caplog.at_level(logging.INFO, logger="absl"):
      with pytest.raises(_Killed):
        pretraining.run_pretraining(_params(mlm_data, run_dir, 20))
  assert f"resuming from {run_dir / 'ckpt-15'} " in caplog.text
  assert "checkpoint.tmp1234" in caplog.text  # Named as removed.
  caplog.clear()

  # 3. A kill during the data save leaves ckpt-N_temp/; ckpt-20 is truncated.
  (run_dir / "ckpt-25_temp").mkdir()
  (run_dir / "ckpt-25_temp" / "part-00000-of-00001.data-00000-of-00001"
   ).write_bytes(b"\0" * 64)
  data_file = run_dir / "ckpt-20.data-00000-of-00001"
  data_file.write_bytes(data_file.read_bytes()[:100])
  with caplog.at_level(logging.INFO, logger="absl"):
    metrics = pretraining.run_pretraining(_params(mlm_data, run_dir, 20))
  log = caplog.text
  assert f"{run_dir / 'ckpt-20'} does not read back" in log
  assert f"resuming from {run_dir / 'ckpt-15'} " in log
  assert not (run_dir / "ckpt-25_temp").exists()
  assert not list(run_dir.glob("checkpoint.tmp*"))
  assert "could not be found" not in log and "not found" not in log
  assert metrics["step"] == 20
  reference = _weights(str(tmp_path / "reference" / "ckpt-20"))
  resumed = _weights(str(run_dir / "ckpt-20"))
  assert reference.keys() == resumed.keys() and len(reference) > 40
  for key, value in reference.items():
    np.testing.assert_allclose(resumed[key], value, atol=1e-6, err_msg=key)
