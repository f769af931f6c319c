"""The QA SavedModel: windows as in data prep; reloaded, the same answers."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.tasks.squad import data as squad_data
from rembert_tf.tasks.squad import export as squad_export
from rembert_tf.tasks.squad import features as squad_features
from rembert_tf.tasks.squad import model as squad_model
from rembert_tf.tasks.squad import postprocess as squad_postprocess
from tests.tasks import squad_fixtures
from tests.tasks.conftest import SQUAD_DOC_STRIDE
from tests.tasks.conftest import SQUAD_QUERY_LENGTH
from tests.tasks.conftest import SQUAD_SEQ_LENGTH

EXPORT_LANGUAGES = ("en", "de", "hi", "zh", "ar")
# Contexts and questions with what SentencePiece treats specially: runs of
# spaces, tabs, ideographic and no-break spaces, leading whitespace.
ODD = [
    ("Wo  wohnt\tAnna ?", "  Anna  wohnt \u3000 in  Paris.\u00a0Boris " * 6),
    (" where " * 30, "安娜住在巴黎。 Борис — друг Анны. अन्ना पेरिस में"),
    ("", "short"),
]

_RELOAD = r"""
import json
import sys
import tensorflow as tf
import tensorflow_text  # Registers the SentencePiece op the model needs.
model = tf.saved_model.load(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f:
  pairs = json.load(f)
out = model.signatures["serving_default"](
    question=tf.constant([q for q, _ in pairs]),
    context=tf.constant([c for _, c in pairs]))
with open(sys.argv[3], "w", encoding="utf-8") as f:
  json.dump({"answers": [a.decode("utf-8") for a in out["answer"].numpy()],
             "scores": [float(s) for s in out["score"].numpy()]}, f)
"""


def _dev_examples(squad, per_language):
  examples = []
  for lang in EXPORT_LANGUAGES:
    examples += squad_data.read_squad_file(
        squad.squad_file(f"dev-{lang}"),
        is_training=False).examples[:per_language]
  return examples


def _fine_tuned_outputs(model_dir, squad, per_language):
  """The fine-tuned model, dev examples, their windows and the logits."""
  config = RemBertConfig.from_json_file(os.path.join(model_dir, "config.json"))
  model = squad_model.build_span_labeler(config, SQUAD_SEQ_LENGTH)
  tf.train.Checkpoint(**model.checkpoint_items).read(
      tf.train.latest_checkpoint(model_dir)).expect_partial()
  examples = _dev_examples(squad, per_language)
  features = squad_features.build_features(
      examples, squad.vocab, squad_features.FeatureSettings(
          max_seq_length=SQUAD_SEQ_LENGTH, doc_stride=SQUAD_DOC_STRIDE,
          max_query_length=SQUAD_QUERY_LENGTH), False)
  outputs = model({"input_word_ids": features.input_word_ids,
                   "input_mask": features.input_mask,
                   "input_type_ids": features.input_type_ids}, training=False)
  return model, examples, features, outputs


def _to_bytes(text, offsets):
  """Character offsets of `text` -> UTF-8 byte offsets (-1 stays)."""
  table = np.cumsum([0] + [len(c.encode("utf-8")) for c in text])
  return np.where(offsets >= 0, table[np.maximum(offsets, 0)], -1)


def test_windows_equal_the_training_features(squad_task):
  squad = squad_task.squad
  settings = squad_features.FeatureSettings(
      max_seq_length=SQUAD_SEQ_LENGTH, doc_stride=8,
      max_query_length=SQUAD_QUERY_LENGTH)
  examples = _dev_examples(squad, 4) + [
      squad_data.SquadExample(f"odd-{i}", q, c, ())
      for i, (q, c) in enumerate(ODD)]
  expected = squad_features.build_features(examples, squad.vocab, settings,
                                           False)
  with open(squad.sp_model, "rb") as f:
    module = squad_export.SpanModule(
        None, f.read(), squad.vocab.word_start, squad.vocab.special.as_dict(),
        squad_export.AnswerSettings(SQUAD_SEQ_LENGTH, 8, SQUAD_QUERY_LENGTH,
                                    20, 30))
  windows = module.windows(tf.constant([e.question for e in examples]),
                           tf.constant([e.context for e in examples]))
  assert expected.window_index.max() >= 5
  for name in ("input_word_ids", "input_mask", "input_type_ids",
               "token_is_max_context", "example_index", "window_index"):
    np.testing.assert_array_equal(windows[name], getattr(expected, name),
                                  err_msg=name)
  for name in ("starts", "ends"):
    chars = getattr(expected, f"token_char_{name}")
    in_bytes = [_to_bytes(examples[e].context, row)
                for e, row in zip(expected.example_index, chars)]
    np.testing.assert_array_equal(windows[f"token_byte_{name}"], in_bytes)


class _TiedLogits(tf.Module):
  """A stand-in model whose logits depend on the token id alone, so many
  spans score the same, within a window and across windows."""

  def __call__(self, inputs, training):
    ids = tf.cast(inputs["input_word_ids"], tf.float32)
    return {"start_logits": tf.math.floormod(ids, 3.0),
            "end_logits": tf.math.floormod(ids, 2.0)}


def test_ties_are_broken_as_in_post_processing(squad_task):
  squad = squad_task.squad
  examples = _dev_examples(squad, 4)
  features = squad_features.build_features(
      examples, squad.vocab, squad_features.FeatureSettings(
          max_seq_length=SQUAD_SEQ_LENGTH, doc_stride=8,
          max_query_length=SQUAD_QUERY_LENGTH), False)
  logits = _TiedLogits()({"input_word_ids": features.input_word_ids},
                         training=False)
  expected = squad_postprocess.postprocess(
      squad_fixtures.eval_features(examples, features),
      np.arange(len(features)), logits["start_logits"].numpy(),
      logits["end_logits"].numpy(), n_best_size=20, max_answer_length=30)
  best = [expected.nbest[e.qas_id] for e in examples]
  tied = [sum(e["start_logit"] + e["end_logit"] ==
              n[0]["start_logit"] + n[0]["end_logit"] for e in n) for n in best]
  assert sum(t > 1 for t in tied) > len(examples) // 2  # Ties decide.
  with open(squad.sp_model, "rb") as f:
    module = squad_export.SpanModule(
        _TiedLogits(), f.read(), squad.vocab.word_start,
        squad.vocab.special.as_dict(),
        squad_export.AnswerSettings(SQUAD_SEQ_LENGTH, 8, SQUAD_QUERY_LENGTH,
                                    20, 30))
  served = module.serve(tf.constant([e.question for e in examples]),
                        tf.constant([e.context for e in examples]))
  assert [a.decode("utf-8") for a in served["answer"].numpy()] == [
      expected.predictions[e.qas_id] for e in examples]
  np.testing.assert_allclose(
      served["score"], [n[0]["start_logit"] + n[0]["end_logit"] for n in best])


def test_reloaded_in_a_fresh_process_answers_the_same(squad_run, squad_task,
                                                      tmp_path, repo_root):
  model_dir, results = squad_run
  squad = squad_task.squad
  model, examples, features, outputs = _fine_tuned_outputs(
      model_dir, squad, 6)
  windows = np.bincount(features.example_index)
  assert windows.min() == 1 and windows.max() >= 3  # One and several.
  expected = squad_postprocess.postprocess(
      squad_fixtures.eval_features(examples, features),
      np.arange(len(features)), outputs["start_logits"].numpy(),
      outputs["end_logits"].numpy(), n_best_size=20, max_answer_length=30)
  pairs = [(e.question, e.context) for e in examples] + [("Where?", "")]
  pairs_file = tmp_path / "pairs.json"
  pairs_file.write_text(json.dumps(pairs), encoding="utf-8")
  out_file = tmp_path / "out.json"
  subprocess.run(
      [sys.executable, "-c", _RELOAD, results["saved_model"], str(pairs_file),
       str(out_file)], cwd=repo_root, check=True,
      env={**os.environ, "TF_USE_LEGACY_KERAS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"})
  served = json.loads(out_file.read_text(encoding="utf-8"))
  answers = [expected.predictions[e.qas_id] for e in examples]
  best = [expected.nbest[e.qas_id][0] for e in examples]
  assert len(set(answers)) > 3  # Not one answer for everything.
  assert served["answers"][:-1] == answers
  np.testing.assert_allclose(served["scores"][:-1],
                             [e["start_logit"] + e["end_logit"] for e in best],
                             atol=1e-4)
  assert served["answers"][-1] == "" and served["scores"][-1] == -np.inf
  with open(os.path.join(results["saved_model"],
                         squad_export.SETTINGS_FILE)) as f:
    recorded = json.load(f)
  assert recorded["max_seq_length"] == SQUAD_SEQ_LENGTH
  assert recorded["doc_stride"] == SQUAD_DOC_STRIDE
  assert recorded["special_ids"] == squad.vocab.special.as_dict()


def test_null_answers_follow_the_threshold(squad_run, squad_task):
  """SQuAD 2.0 settings: "" exactly where post-processing predicts it."""
  model_dir, _ = squad_run
  squad = squad_task.squad
  model, examples, features, outputs = _fine_tuned_outputs(
      model_dir, squad, 4)
  logits = (outputs["start_logits"].numpy(), outputs["end_logits"].numpy())

  def expected(threshold):
    return squad_postprocess.postprocess(
        squad_fixtures.eval_features(examples, features),
        np.arange(len(features)), *logits, n_best_size=20,
        max_answer_length=30, version_2_with_negative=True,
        null_score_diff_threshold=threshold)

  threshold = float(np.median(list(expected(0.0).null_odds.values())))
  reference = expected(threshold)
  with open(squad.sp_model, "rb") as f:
    module = squad_export.SpanModule(
        model, f.read(), squad.vocab.word_start,
        squad.vocab.special.as_dict(), squad_export.AnswerSettings(
            SQUAD_SEQ_LENGTH, SQUAD_DOC_STRIDE, SQUAD_QUERY_LENGTH, 20, 30,
            version_2_with_negative=True,
            null_score_diff_threshold=threshold))
  served = module.serve(tf.constant([e.question for e in examples]),
                        tf.constant([e.context for e in examples]))
  answers = [a.decode("utf-8") for a in served["answer"].numpy()]
  assert answers == [reference.predictions[e.qas_id] for e in examples]
  assert 0 < answers.count("") < len(answers)
  nulls = [reference.nbest[e.qas_id] for e in examples]
  null_scores = [next(x["start_logit"] + x["end_logit"] for x in n
                      if x["text"] == "") for n in nulls]
  np.testing.assert_allclose(
      [s for s, a in zip(served["score"].numpy(), answers) if not a],
      [s for s, a in zip(null_scores, answers) if not a], atol=1e-4)
