"""The flagfile presets carry the paper's Table 10 and Table 15 settings."""

import dataclasses
import os

import pytest

from rembert_tf.tasks import classifier_training

# Table 10 (all models but RemBERT; the middle of each rate range) and Table 15.
EXPECTED = {
    "xnli.flags": {"learning_rate": "2e-5", "train_batch_size": "32",
                   "num_train_epochs": "3"},
    "pawsx.flags": {"learning_rate": "4e-5", "train_batch_size": "32",
                    "num_train_epochs": "3"},
    "xnli_rembert.flags": {"learning_rate": "1e-5", "train_batch_size": "128",
                           "num_train_epochs": "3", "config_file": "rembert"},
    "pawsx_rembert.flags": {"learning_rate": "8e-6", "train_batch_size": "128",
                            "num_train_epochs": "3", "config_file": "rembert"},
    "xnli_demo.flags": {"max_seq_length": "64", "eval_splits": "dev"},
}


def _read(path: str) -> dict[str, str]:
  with open(path, encoding="utf-8") as f:
    lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
  return dict(l[2:].split("=", 1) for l in lines)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset(repo_root, name):
  values = _read(os.path.join(repo_root, "flags", name))
  fields = {f.name for f in dataclasses.fields(
      classifier_training.ClassifierParams)}
  assert set(values) <= fields
  assert {k: values[k] for k in EXPECTED[name]} == EXPECTED[name]
