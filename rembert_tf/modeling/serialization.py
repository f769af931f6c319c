"""Keras serialization for every layer and model built from a RemBertConfig.

A layer's Keras config is its `RemBertConfig` as a dict plus the few
constructor arguments beyond it (`extra_config`), so `tf_keras.models.
save_model` / `load_model` rebuild the same class through its constructor:
variable names, checkpoint keys and a coupled head's tie come back as built.
Classes register under the package name "rembert_tf"; the loading process must
import them (importing the class from `rembert_tf` does).
"""

from typing import Any

import tf_keras

from rembert_tf.modeling.config import RemBertConfig


class ConfigSerializable:
  """Mixin (before the Keras base class) giving get_config / from_config."""

  config: RemBertConfig

  def extra_config(self) -> dict[str, Any]:
    """Constructor arguments besides the RemBertConfig and Keras's own."""
    return {}

  def get_config(self) -> dict[str, Any]:
    # Layer's, not Model's: tf_keras.Model.get_config is empty for a subclass,
    # while Layer's keeps the name, trainable flag and dtype policy.
    return {**tf_keras.layers.Layer.get_config(self),
            "config": self.config.to_dict(), **self.extra_config()}

  @classmethod
  def from_config(cls, config: dict[str, Any]) -> Any:
    config = dict(config)
    return cls(RemBertConfig.from_dict(config.pop("config")), **config)

  def build_from_config(self, config: dict[str, Any]) -> None:
    """Builds for a `.keras` load by a call on `dummy_inputs()` where the
    class has them: Keras's default build would feed float token ids."""
    dummy_inputs = getattr(self, "dummy_inputs", None)
    if dummy_inputs is None:
      super().build_from_config(config)  # pytype: disable=attribute-error
    else:
      self(dummy_inputs())
