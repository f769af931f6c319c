"""RemBERT (Chung et al., ICLR 2021) for TensorFlow 2 / tf_keras.

Importing the package sets two environment defaults before TensorFlow loads
(values the user set win):
  TF_USE_LEGACY_KERAS=1   TensorFlow's own Keras alias resolves to tf_keras
                          (Keras 2, which tf-models-official is built on), not
                          Keras 3;
  TF_CPP_MIN_LOG_LEVEL=3  hides the CUDA/oneDNN start-up chatter on machines
                          without a GPU.
oneDNN's CPU kernels stay as TensorFlow chooses them (on for CPUs with
AVX-512 VNNI, BF16 or AMX, off otherwise; TF_ENABLE_ONEDNN_OPTS overrides);
the trainers log which is in effect (`training.distribution`).

The public names below load on first use, so that tools which need no TensorFlow
(the data-prep workers, the config table) do not pay for importing it.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib
from typing import Any

_EXPORTS = {
    "load_config": "rembert_tf.configs",
    "CheckpointMismatchError": "rembert_tf.modeling.checkpoints",
    "restore_encoder": "rembert_tf.modeling.checkpoints",
    "ConfigError": "rembert_tf.modeling.config",
    "RemBertConfig": "rembert_tf.modeling.config",
    "RemBertEmbeddings": "rembert_tf.modeling.embeddings",
    "RemBertEncoder": "rembert_tf.modeling.encoder",
    "masked_lm_loss_and_accuracy": "rembert_tf.modeling.losses",
    "masked_lm_sums": "rembert_tf.modeling.losses",
    "RemBertMaskedLM": "rembert_tf.modeling.mlm_head",
    "RemBertPretrainer": "rembert_tf.modeling.pretrainer",
    "RemBertClassifier": "rembert_tf.modeling.task_models",
    "RemBertSpanLabeler": "rembert_tf.modeling.task_models",
    "RemBertTokenClassifier": "rembert_tf.modeling.task_models",
    "fill_mask": "rembert_tf.mask_filling",
    "from_pretrained": "rembert_tf.pretrained",
    "save_pretrained": "rembert_tf.pretrained",
    "load_tokenizer": "rembert_tf.tokenizer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
  if name not in _EXPORTS:
    raise AttributeError(f"module 'rembert_tf' has no attribute {name!r}")
  return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
  return sorted(list(globals()) + __all__)
