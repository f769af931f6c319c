"""Shared test set-up: repo root importable, quiet TensorFlow, tiny configs."""

import json
import os
import socket
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import rembert_tf  # pylint: disable=g-import-not-at-top,wrong-import-position  Sets TF's env.


def tiny_config(**changes) -> "rembert_tf.RemBertConfig":
  """A decoupled config with Ein < H < Eout, small enough for exact tests."""
  values = dict(vocab_size=61, hidden_size=16, num_hidden_layers=3,
                num_attention_heads=4, input_embedding_size=8,
                output_embedding_size=24, intermediate_size=32,
                max_position_embeddings=20, type_vocab_size=2,
                pad_token_id=0, bos_token_id=1, eos_token_id=2)
  values.update(changes)
  return rembert_tf.RemBertConfig(**values)


def loopback_tf_configs(num_workers: int) -> list[str]:
  """Each worker's TF_CONFIG for a cluster on free loopback ports."""
  sockets = [socket.socket() for _ in range(num_workers)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  workers = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
  for s in sockets:
    s.close()
  return [json.dumps({"cluster": {"worker": workers},
                      "task": {"type": "worker", "index": index}})
          for index in range(num_workers)]


@pytest.fixture
def repo_root() -> str:
  return ROOT
