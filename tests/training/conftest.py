"""Small pre-training data and a matching tiny config, made once per session."""

import dataclasses
import glob
import json
import os
import subprocess
import sys

import pytest

from rembert_tf.data import demo_corpus
from rembert_tf.data import pipeline
from rembert_tf.data import sentencepiece_vocab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class MlmData:
  data_dir: str
  config_file: str
  metadata: dict


@pytest.fixture(scope="session")
def mlm_data(tmp_path_factory) -> MlmData:
  root = tmp_path_factory.mktemp("mlm")
  corpus = root / "corpus"
  demo_corpus.write_pretraining_text(str(corpus), num_documents=80, seed=3)
  files = {os.path.basename(d): sorted(glob.glob(os.path.join(d, "*.txt")))
           for d in sorted(glob.glob(str(corpus / "pretrain" / "*")))}
  sp_model = str(root / "spm.model")
  sentencepiece_vocab.train_model(
      [f for fs in files.values() for f in fs], sp_model[:-len(".model")], 300)
  meta = pipeline.run(pipeline.DataPrepConfig(
      input_files=files, output_dir=str(root / "data"), sp_model_file=sp_model,
      max_seq_length=32, max_predictions_per_seq=5, dupe_factor=1,
      num_shards=1, num_workers=1))
  special = meta["sentencepiece"]["special_ids"]
  config_file = root / "config.json"
  config_file.write_text(json.dumps({
      "vocab_size": meta["sentencepiece"]["vocab_size"], "hidden_size": 32,
      "num_hidden_layers": 2, "num_attention_heads": 2,
      "input_embedding_size": 16, "output_embedding_size": 48,
      "intermediate_size": 64, "max_position_embeddings": 32,
      "pad_token_id": special["pad"], "bos_token_id": special["cls"],
      "eos_token_id": special["sep"]}))
  return MlmData(str(root / "data"), str(config_file), meta)


def run_pretraining_cli(*args: str, timeout: float = 300,
                        env: dict | None = None) -> subprocess.CompletedProcess:
  """Runs run_pretraining.py in a fresh process."""
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "run_pretraining.py"), *args],
      cwd=ROOT, capture_output=True, text=True, timeout=timeout,
      env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})
