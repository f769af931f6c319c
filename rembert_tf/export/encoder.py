"""The encoder as a SavedModel with the TF Hub BERT encoder interface.

In: a dict of int32 [batch, seq] `input_word_ids`, `input_mask`,
`input_type_ids`. Out: `pooled_output` [batch, H], `sequence_output`
[batch, seq, H], `encoder_outputs` (one [batch, seq, H] per layer) and `default`
(= pooled_output), so `hub.KerasLayer(path)` code written for TF Hub BERT
encoders runs unchanged. Saved as a tf_keras model, as TF Hub BERT encoders are.
"""

import tf_keras

from rembert_tf import file_io
from rembert_tf import pretrained
from rembert_tf.modeling.encoder import RemBertEncoder

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def hub_encoder_model(encoder: RemBertEncoder) -> tf_keras.Model:
  """Wraps `encoder` (with pooler) in the TF Hub encoder's functional interface."""
  if encoder.pooler is None:
    raise ValueError("the TF Hub encoder interface has pooled_output; build the "
                     "encoder with add_pooling_layer=True")
  inputs = {name: tf_keras.Input(shape=(None,), dtype="int32", name=name)
            for name in INPUT_NAMES}
  outputs = encoder(inputs)
  return tf_keras.Model(
      inputs,
      {"pooled_output": outputs["pooled_output"],
       "sequence_output": outputs["sequence_output"],
       "encoder_outputs": outputs["encoder_outputs"],
       "default": outputs["pooled_output"]},
      name="rembert_encoder")


def export_encoder(model_dir: str, output_dir: str,
                   overwrite: bool = False) -> None:
  """Exports a pretrained directory's encoder (a missing pooler starts fresh)."""
  encoder = pretrained.from_pretrained(model_dir, "encoder")
  model = hub_encoder_model(encoder)
  with file_io.atomic_directory(output_dir, overwrite) as tmp:
    model.save(tmp, include_optimizer=False, save_format="tf")
