"""Activation functions by the names used in RemBERT's config.json."""

from typing import Callable

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
def gelu_tanh(x: tf.Tensor) -> tf.Tensor:
  """The tanh approximation of gelu (config name "gelu_new")."""
  return tf.nn.gelu(x, approximate=True)


@tf_keras.utils.register_keras_serializable(package="rembert_tf")
def gelu_exact(x: tf.Tensor) -> tf.Tensor:
  """The exact (erf) gelu, what the released RemBERT's "gelu" means.

  tf-models-official's `get_activation("gelu")` is the tanh form; the two differ by
  up to ~4.7e-4 per activation, enough to break parity with the released model.
  """
  return tf.nn.gelu(x, approximate=False)


_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "gelu": gelu_exact,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "relu": tf.nn.relu,
    "tanh": tf.math.tanh,
}


def get_activation(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
  """Returns the activation a config's `hidden_act` names."""
  try:
    return _ACTIVATIONS[name]
  except KeyError:
    raise ValueError(f"unknown activation {name!r}; supported: "
                     f"{', '.join(sorted(_ACTIVATIONS))}") from None
