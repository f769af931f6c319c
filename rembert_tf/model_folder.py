"""The pretrained folder format: `config.json` beside a checkpoint `model.ckpt`.

The checkpoint's roots are the model's parts: `encoder` (always; with
`encoder/pooler` when it has one), and optionally `masked_lm` (the MLM head
with the decoupled output embedding), `classifier`, `token_classifier` or
`span_labeler`. It describes itself: loading looks at which parts it holds, so
no other metadata is needed. `save_pretrained` and the converters write it
(through this module), `from_pretrained` reads it.
"""

import os
from typing import Optional

import tensorflow as tf
import tf_keras

from rembert_tf.modeling import checkpoints
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.encoder import RemBertEncoder
from rembert_tf.modeling.mlm_head import RemBertMaskedLM
from rembert_tf.modeling.task_models import classifier_layer
from rembert_tf.modeling.task_models import span_layer

CONFIG_FILE = "config.json"
CHECKPOINT_NAME = checkpoints.PRETRAINED_CHECKPOINT


def checkpoint_prefix(path: str) -> str:
  """Where `save_pretrained` writes the checkpoint of directory `path`."""
  return os.path.join(path, CHECKPOINT_NAME)


def read_config(path: str) -> RemBertConfig:
  return RemBertConfig.from_json_file(os.path.join(path, CONFIG_FILE))


def build_items(config: RemBertConfig, *, pooler: bool,
                masked_lm: bool = False, num_classes: Optional[int] = None,
                num_token_classes: Optional[int] = None,
                span_labeler: bool = False) -> dict[str, tf_keras.layers.Layer]:
  """Builds (initialised) checkpoint roots for any combination of parts.

  The converters use this: a source may hold a pooler *and* an MLM head (the
  original checkpoint), which no single training model has.
  """
  encoder = RemBertEncoder(config, add_pooling_layer=pooler, name="encoder")
  encoder(encoder.dummy_inputs())
  items = {"encoder": encoder}
  hidden = tf.zeros([1, 1, config.hidden_size])
  if masked_lm:
    head = RemBertMaskedLM(
        config, input_embedding_layer=encoder.embeddings.word_embeddings,
        name="masked_lm")
    head(hidden, tf.zeros([1, 1], tf.int32))
    items["masked_lm"] = head
  for root, classes in (("classifier", num_classes),
                        ("token_classifier", num_token_classes)):
    if classes is not None:
      items[root] = classifier_layer(config, classes, name=root)
      items[root](hidden)
  if span_labeler:
    items["span_labeler"] = span_layer(config)
    items["span_labeler"](hidden)
  return items


def write_model_dir(items: dict[str, tf_keras.layers.Layer],
                    config: RemBertConfig, directory: str) -> None:
  """Writes `config.json` and `model.ckpt` into an existing directory."""
  config.to_json_file(os.path.join(directory, CONFIG_FILE))
  tf.train.Checkpoint(**items).write(checkpoint_prefix(directory))
