"""The tagging SavedModels, reloaded in a fresh process, tag as evaluation
did."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from rembert_tf.data import sentencepiece_vocab
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks.tagging import data
from rembert_tf.tasks.tagging import export
from rembert_tf.tasks.tagging import features
from rembert_tf.tasks.tagging import model as tagging_model
from tests.tasks.conftest import LANGUAGES
from tests.tasks.conftest import NER_LABELS
from tests.tasks.conftest import RELOAD_SAVED_MODELS
from tests.tasks.conftest import SEQ_LENGTH
from tests.tasks.test_run_tagging import read_predictions

# Whitespace the graph splits on (runs, tabs, ideographic and no-break
# spaces), and nothing.
ODD = ["  Anna \u3000lives\tin  Paris.\u00a0 ", ""]

_RELOAD = RELOAD_SAVED_MODELS + r"""
import json
np.save(sys.argv[5], logits)
with open(sys.argv[4], encoding="utf-8") as f:
  sentences = json.load(f)
out = text_model.signatures["serving_default"](sentences=tf.constant(sentences))
values = {k: v.numpy().tolist() for k, v in out.items()}
for name in ("words", "tags"):
  values[name] = [[w.decode("utf-8") for w in row] for row in values[name]]
with open(sys.argv[6], "w", encoding="utf-8") as f:
  json.dump(values, f)
"""


def test_reloaded_in_a_fresh_process_tags_like_evaluation(
    tagging_run, tagging_task, tmp_path, repo_root):
  model_dir, results = tagging_run
  paths = results["saved_model"]
  evaluated = [s for lang in LANGUAGES
               for s in read_predictions(model_dir, f"dev-{lang}")]
  sentences = [data.Sentence(tuple(w for w, _, _ in s),
                             tuple(g for _, g, _ in s), ()) for s in evaluated]
  rows = features.build_windows(
      "dev", sentences, NER_LABELS,
      sentencepiece_vocab.load_vocab(tagging_task.task.sp_model), SEQ_LENGTH)
  config = RemBertConfig.from_json_file(os.path.join(model_dir, "config.json"))
  model = tagging_model.build_token_classifier(config, len(NER_LABELS),
                                               SEQ_LENGTH)
  tf.train.Checkpoint(**model.checkpoint_items).read(
      tf.train.latest_checkpoint(model_dir)).expect_partial()
  ids = np.stack([rows.input_word_ids, rows.input_mask, rows.input_type_ids])
  logits = model({"input_word_ids": ids[0], "input_mask": ids[1],
                  "input_type_ids": ids[2]}, training=False)["logits"].numpy()
  files = {name: str(tmp_path / name) for name in
           ("ids.npy", "sentences.json", "logits.npy", "out.json")}
  np.save(files["ids.npy"], ids)
  texts = [" ".join(s.words) for s in sentences] + ODD
  with open(files["sentences.json"], "w", encoding="utf-8") as f:
    json.dump(texts, f)
  subprocess.run(
      [sys.executable, "-c", _RELOAD, paths["text"], paths["token_ids"],
       *files.values()],
      cwd=repo_root, check=True,
      env={**os.environ, "TF_USE_LEGACY_KERAS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"})
  np.testing.assert_allclose(np.load(files["logits.npy"]), logits, rtol=1e-5,
                             atol=1e-6)
  with open(files["out.json"], encoding="utf-8") as f:
    out = json.load(f)
  for i, sentence in enumerate(evaluated):
    n = out["num_words"][i]
    assert out["words"][i][:n] == [w for w, _, _ in sentence]
    assert out["tags"][i][:n] == [p for _, _, p in sentence], i
  for i, text in enumerate(texts):
    n = out["num_words"][i]
    assert [text[s:e] for s, e in zip(out["word_starts"][i][:n],
                                      out["word_ends"][i][:n])] == text.split()
    assert out["tags"][i][n:] == [""] * (len(out["tags"][i]) - n)
  assert out["words"][-2][:4] == ["Anna", "lives", "in", "Paris."]
  assert out["num_words"][-1] == 0
  for path in paths.values():
    with open(os.path.join(path, export.LABELS_FILE), encoding="utf-8") as f:
      assert f.read().split() == list(NER_LABELS)
