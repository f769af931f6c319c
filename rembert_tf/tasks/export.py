"""What every task's SavedModel export shares: the token-ids module and the writer.

A SavedModel that tokenizes inside the graph needs the tensorflow-text ops to
load at all (TensorFlow loads every function of a SavedModel), so each task
also exports its weights behind a `serve_token_ids` signature alone
(`TokenIdsModule`), which loads anywhere: `write_text_and_token_ids` writes
both. `write_saved_model` makes a local export appear only when complete, with
text files (labels, settings) inside it.
"""

import os
from typing import Any, Mapping

from rembert_tf import file_io

import tensorflow as tf
import tf_keras


TOKEN_IDS_SIGNATURE = "serve_token_ids"
TOKEN_IDS_SUFFIX = "_token_ids"
# Python's str.isspace() set as an RE2 class, so that graphs split or strip
# text as data prep's str.split() and str.lstrip() do (tensorflow_text's
# WhitespaceTokenizer cuts words wrongly before multi-byte spaces).
WHITESPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f\x{85}\p{Z}]"


class TokenIdsModule(tf.Module):
  """The model behind a token-ids signature; needs no tensorflow_text op."""

  def __init__(self, model: tf_keras.Model):
    super().__init__()
    self.model = model

  @tf.function(input_signature=[
      tf.TensorSpec([None, None], tf.int32, "input_word_ids"),
      tf.TensorSpec([None, None], tf.int32, "input_mask"),
      tf.TensorSpec([None, None], tf.int32, "input_type_ids")])
  def serve_token_ids(self, input_word_ids: tf.Tensor, input_mask: tf.Tensor,
                      input_type_ids: tf.Tensor) -> dict[str, tf.Tensor]:
    inputs = {"input_word_ids": input_word_ids, "input_mask": input_mask,
              "input_type_ids": input_type_ids}
    return {"logits": self.model(inputs, training=False)["logits"]}


def write_text_and_token_ids(text_module: TokenIdsModule,
                             text_signature: Any, export_dir: str,
                             extra_files: Mapping[str, str]) -> dict[str, str]:
  """Writes the raw-text SavedModel and its token-ids twin, each atomically
  and with `extra_files` inside.

  Returns their paths: `text` (`export_dir`: `text_signature` as
  serving_default, plus serve_token_ids) and `token_ids` (`export_dir` +
  "_token_ids": the token-ids signature alone, also as serving_default).
  """
  paths = {"text": export_dir, "token_ids": export_dir + TOKEN_IDS_SUFFIX}
  ids_module = TokenIdsModule(text_module.model)
  exports = [(paths["text"], text_module, text_signature),
             (paths["token_ids"], ids_module, ids_module.serve_token_ids)]
  for path, module, default in exports:
    write_saved_model(path, module,
                      {"serving_default": default,
                       TOKEN_IDS_SIGNATURE: module.serve_token_ids},
                      extra_files)
  return paths


def write_saved_model(path: str, module: tf.Module,
                      signatures: Mapping[str, Any],
                      extra_files: Mapping[str, str]) -> None:
  """Saves `module` plus text files inside it (e.g. `assets.extra/...`).

  A local `path` appears only when complete (replacing an older export); a
  remote one has no atomic rename and is written in place.
  """
  if "://" in path:
    _save(module, signatures, extra_files, path)
  else:
    with file_io.atomic_directory(path, overwrite=True) as tmp:
      _save(module, signatures, extra_files, tmp)


def _save(module: tf.Module, signatures: Mapping[str, Any],
          extra_files: Mapping[str, str], path: str) -> None:
  tf.saved_model.save(module, path, signatures=dict(signatures))
  for name, text in extra_files.items():
    file_io.write_text(os.path.join(path, name), text)
