"""TF Hub-style SavedModels, reloaded in a fresh process (as TF Hub users do)."""

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sentencepiece as spm

from rembert_tf import pretrained
from rembert_tf.convert.__main__ import main
from rembert_tf.modeling.task_models import RemBertClassifier
from tests.conftest import tiny_config

SEQ_LENGTH = 12
PAIR_LENGTH = 24
TEXTS = ["the quick fox", "Café naïve dogs jump over the fox again and again"]
PAIRS = (["the dog", "a fox"], ["jumps", "naïve café"])

# Runs in a fresh interpreter: only TF, tensorflow_text and tensorflow_hub, the
# way code written for TF Hub BERT encoders loads them.
_RELOAD = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    pre_dir, enc_dir, out = sys.argv[1:4]
    texts = {texts!r}
    a, b = {pairs!r}
    preprocessor = hub.load(pre_dir)
    encoder = hub.KerasLayer(enc_dir, trainable=False)
    inputs = preprocessor(tf.constant(texts))
    outputs = encoder(inputs)
    pair = preprocessor.bert_pack_inputs(
        [preprocessor.tokenize(tf.constant(a)),
         preprocessor.tokenize(tf.constant(b))], seq_length={pair_length})
    arrays = {{"in_" + k: v.numpy() for k, v in inputs.items()}}
    arrays.update({{"pair_" + k: v.numpy() for k, v in pair.items()}})
    arrays["pooled_output"] = outputs["pooled_output"].numpy()
    arrays["sequence_output"] = outputs["sequence_output"].numpy()
    for i, layer in enumerate(outputs["encoder_outputs"]):
      arrays[f"layer_{{i}}"] = layer.numpy()
    np.savez(out, **arrays)
""").format(texts=TEXTS, pairs=PAIRS, pair_length=PAIR_LENGTH)


def _train_sentencepiece(path):
  sentences = [f"the quick brown fox {i} jumps over the café naïve dog {7 * i}"
               for i in range(300)]
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences), model_writer=model, vocab_size=61,
      model_type="unigram", pad_id=0, pad_piece="[PAD]", unk_id=3, bos_id=-1,
      eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"],
      normalization_rule_name="identity", minloglevel=2)
  with open(path, "wb") as f:
    f.write(model.getvalue())
  return spm.SentencePieceProcessor(model_file=path)


def _pack(segments, seq_length, cls_id=1, sep_id=2):
  """[CLS] a [SEP] (b [SEP]), zero padded; inputs short enough not to trim."""
  ids, types = [cls_id], [0]
  for segment_index, segment in enumerate(segments):
    ids += segment + [sep_id]
    types += [segment_index] * (len(segment) + 1)
  ids, types = ids[:seq_length], types[:seq_length]
  if len(ids) == seq_length:
    ids[-1] = sep_id
  pad = seq_length - len(ids)
  return ids + [0] * pad, [1] * len(ids) + [0] * pad, types + [0] * pad


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("export")
  processor = _train_sentencepiece(str(tmp / "sentencepiece.model"))
  assert [processor.piece_to_id(p) for p in ("[PAD]", "[CLS]", "[SEP]")] == [0, 1, 2]
  config = tiny_config()  # pad 0, [CLS] 1, [SEP] 2, as the vocabulary above.
  config.to_json_file(str(tmp / "config.json"))
  # A fine-tuned classifier: its encoder has a trained pooler to export.
  pretrained.save_pretrained(RemBertClassifier(config, 2), str(tmp / "model"))
  assert main(["savedmodel", "--input", str(tmp / "model"),
               "--output", str(tmp / "encoder")]) == 0
  assert main(["preprocessing", "--input", str(tmp / "sentencepiece.model"),
               "--output", str(tmp / "preprocessing"), "--seq_length",
               str(SEQ_LENGTH), "--config", str(tmp / "config.json")]) == 0
  out = str(tmp / "reloaded.npz")
  subprocess.run([sys.executable, "-c", _RELOAD, str(tmp / "preprocessing"),
                  str(tmp / "encoder"), out], check=True, capture_output=True,
                 env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
  return processor, str(tmp / "model"), dict(np.load(out))


def test_preprocessing_matches_sentencepiece(exported):
  processor, _, got = exported
  expected = [_pack([processor.encode(t)], SEQ_LENGTH) for t in TEXTS]
  assert len(processor.encode(TEXTS[1])) > SEQ_LENGTH  # Truncation is tested.
  np.testing.assert_array_equal(got["in_input_word_ids"], [e[0] for e in expected])
  np.testing.assert_array_equal(got["in_input_mask"], [e[1] for e in expected])
  np.testing.assert_array_equal(got["in_input_type_ids"], [e[2] for e in expected])
  pairs = [_pack([processor.encode(a), processor.encode(b)], PAIR_LENGTH)
           for a, b in zip(*PAIRS)]
  assert all(sum(p[1]) < PAIR_LENGTH for p in pairs)  # Short enough not to trim.
  np.testing.assert_array_equal(got["pair_input_word_ids"], [p[0] for p in pairs])
  np.testing.assert_array_equal(got["pair_input_mask"], [p[1] for p in pairs])
  np.testing.assert_array_equal(got["pair_input_type_ids"], [p[2] for p in pairs])
  assert "é" in processor.decode(processor.encode("Café"))  # No accent stripping.


def test_encoder_savedmodel_matches_in_process_model(exported):
  _, model_dir, got = exported
  encoder = pretrained.from_pretrained(model_dir, "encoder")
  inputs = {k[3:]: got[k] for k in ("in_input_word_ids", "in_input_mask",
                                    "in_input_type_ids")}
  ours = encoder(inputs)
  for name in ("sequence_output", "pooled_output"):
    np.testing.assert_allclose(got[name], ours[name].numpy(), atol=1e-6)
  assert len(ours["encoder_outputs"]) == encoder.config.num_hidden_layers
  for i, layer in enumerate(ours["encoder_outputs"]):
    np.testing.assert_allclose(got[f"layer_{i}"], layer.numpy(), atol=1e-6)
