"""RemBERT (Chung et al., ICLR 2021) for TensorFlow 2 / tf_keras.

Importing the package sets two environment defaults before TensorFlow loads:
`TF_USE_LEGACY_KERAS=1`, so that TensorFlow's own Keras alias resolves to tf_keras
(Keras 2, which tf-models-official is built on) rather than Keras 3, and `TF_CPP_MIN_LOG_LEVEL=3`, which hides the
CUDA/oneDNN start-up chatter on machines without a GPU. Values the user set win.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# pylint: disable=g-import-not-at-top,wrong-import-position
from rembert_tf.configs import load_config
from rembert_tf.modeling import CheckpointMismatchError
from rembert_tf.modeling import ConfigError
from rembert_tf.modeling import masked_lm_loss_and_accuracy
from rembert_tf.modeling import masked_lm_sums
from rembert_tf.modeling import RemBertConfig
from rembert_tf.modeling import RemBertEmbeddings
from rembert_tf.modeling import RemBertEncoder
from rembert_tf.modeling import RemBertMaskedLM
from rembert_tf.modeling import RemBertPretrainer
from rembert_tf.modeling import restore_encoder

__all__ = [
    "CheckpointMismatchError", "ConfigError", "load_config",
    "masked_lm_loss_and_accuracy", "masked_lm_sums", "RemBertConfig",
    "RemBertEmbeddings", "RemBertEncoder", "RemBertMaskedLM",
    "RemBertPretrainer", "restore_encoder",
]
