"""The raw-text SavedModel: same ids as data prep, same predictions reloaded."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from rembert_tf.data import sentencepiece_vocab
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks.classification import data as classification_data
from rembert_tf.tasks.classification import features as classifier_features
from rembert_tf.tasks.classification import model as classifier_model
from rembert_tf.tasks.classification import export
from tests.tasks.conftest import RELOAD_SAVED_MODELS

LABELS = classification_data.TASK_LABELS["xnli"]
LONG = "Sehr lange Sätze über Hà Nội und दिल्ली, 很长的句子。 " * 6
PAIRS = [("Anna lives in Paris. Anna's car is red.", "Anna lives in Paris."),
         ("Café naïve Tiếng Việt हिन्दी", "Борис живёт в Москве."),
         ("डिना काहिरा में रहती है।", "迪娜住在开罗。"),
         (LONG, LONG), (LONG, "kurz"), ("short", LONG), ("", "")]

_RELOAD = RELOAD_SAVED_MODELS + r"""
pairs = [line.split("\t") for line in sys.argv[4].split("\n")]
probabilities = text_model.signatures["serving_default"](
    text_a=tf.constant([a for a, _ in pairs]),
    text_b=tf.constant([b for _, b in pairs]))["probabilities"].numpy()
np.save(sys.argv[5], np.stack([logits, np.log(probabilities)]))
"""


def _packed(sp_model: str, seq_length: int):
  vocab = sentencepiece_vocab.load_vocab(sp_model)
  examples = [classification_data.Example(a, b, "neutral") for a, b in PAIRS]
  return vocab, classifier_features.pack_examples(examples, LABELS, vocab,
                                                  seq_length)


def test_in_graph_packing_equals_data_prep(task_fixture):
  vocab, packed = _packed(task_fixture.sp_model, 32)
  assert packed.num_truncated >= 3  # The three pairs with LONG.
  assert packed.input_mask[3:6].all()
  with open(task_fixture.sp_model, "rb") as f:
    module = export._ClassifierModule(  # pylint: disable=protected-access
        None, f.read(), 32, vocab.special.as_dict())
  inputs = module.preprocessor.bert_pack_inputs(
      [module.preprocessor.tokenize(tf.constant([a for a, _ in PAIRS])),
       module.preprocessor.tokenize(tf.constant([b for _, b in PAIRS]))],
      tf.constant(32))
  np.testing.assert_array_equal(inputs["input_word_ids"], packed.input_word_ids)
  np.testing.assert_array_equal(inputs["input_mask"], packed.input_mask)
  np.testing.assert_array_equal(inputs["input_type_ids"], packed.input_type_ids)


def test_reloaded_in_a_fresh_process_predicts_the_same(trained_run,
                                                       task_fixture, tmp_path,
                                                       repo_root):
  model_dir, results = trained_run
  paths = results["saved_model"]
  config = RemBertConfig.from_json_file(os.path.join(model_dir, "config.json"))
  model = classifier_model.build_classifier(config, len(LABELS), 32)
  tf.train.Checkpoint(**model.checkpoint_items).read(
      tf.train.latest_checkpoint(model_dir)).expect_partial()
  _, packed = _packed(task_fixture.sp_model, 32)
  inputs = {"input_word_ids": packed.input_word_ids,
            "input_mask": packed.input_mask,
            "input_type_ids": packed.input_type_ids}
  logits = model(inputs, training=False)["logits"].numpy()
  ids_file, out_file = str(tmp_path / "ids.npy"), str(tmp_path / "out.npy")
  np.save(ids_file, np.stack([packed.input_word_ids, packed.input_mask,
                              packed.input_type_ids]))
  subprocess.run(
      [sys.executable, "-c", _RELOAD, paths["text"], paths["token_ids"],
       ids_file, "\n".join(f"{a}\t{b}" for a, b in PAIRS), out_file],
      cwd=repo_root, check=True,
      env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
  reloaded_logits, reloaded_log_probabilities = np.load(out_file)
  # The tiny model's logits move by ~5e-5 between inputs, so the tolerance
  # is far below that: ids or packing that differed would show.
  assert np.ptp(logits, axis=0).max() > 1e-5
  np.testing.assert_allclose(reloaded_logits, logits, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(reloaded_log_probabilities,
                             tf.nn.log_softmax(logits).numpy(), rtol=1e-5,
                             atol=1e-7)
  with open(os.path.join(paths["text"], export.LABELS_FILE)) as f:
    assert f.read().split() == list(LABELS)
