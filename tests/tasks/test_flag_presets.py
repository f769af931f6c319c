"""The flagfile presets carry the paper's Table 10 and Table 15 settings."""

import dataclasses
import os

import pytest

from rembert_tf.tasks.classification import run as classifier_training
from rembert_tf.tasks.squad import run as squad_training
from rembert_tf.tasks.tagging import run as tagging_training

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
    "squad.flags": {"learning_rate": "3e-5", "train_batch_size": "32",
                    "num_train_epochs": "3", "max_seq_length": "384",
                    "doc_stride": "128", "max_query_length": "64"},
    "squad_rembert.flags": {"learning_rate": "9e-6", "train_batch_size": "128",
                            "num_train_epochs": "3", "config_file": "rembert",
                            "max_seq_length": "384"},
    "squad_demo.flags": {"max_seq_length": "96"},
    # Table 10's NER rates for both (it has no POS row); Table 15's own.
    "panx.flags": {"learning_rate": "3e-5", "train_batch_size": "32",
                   "num_train_epochs": "3", "max_seq_length": "128"},
    "udpos.flags": {"learning_rate": "3e-5", "train_batch_size": "32",
                    "num_train_epochs": "3", "max_seq_length": "128"},
    "panx_rembert.flags": {"learning_rate": "8e-6", "train_batch_size": "64",
                           "num_train_epochs": "3", "config_file": "rembert"},
    "udpos_rembert.flags": {"learning_rate": "3e-5",
                            "train_batch_size": "128",
                            "num_train_epochs": "3", "config_file": "rembert"},
    "panx_demo.flags": {"max_seq_length": "64", "eval_splits": "dev"},
}
PARAMS = {"squad": squad_training.SquadParams,
          "panx": tagging_training.TaggingParams,
          "udpos": tagging_training.TaggingParams}


def _read(path: str) -> dict[str, str]:
  with open(path, encoding="utf-8") as f:
    lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
  return dict(l[2:].split("=", 1) for l in lines)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset(repo_root, name):
  values = _read(os.path.join(repo_root, "flags", name))
  params = PARAMS.get(name.split("_")[0].split(".")[0],
                      classifier_training.ClassifierParams)
  fields = {f.name for f in dataclasses.fields(params)}
  assert set(values) <= fields
  assert {k: values[k] for k in EXPECTED[name]} == EXPECTED[name]
