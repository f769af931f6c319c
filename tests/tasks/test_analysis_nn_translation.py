"""Figure 2's tool against appendix A.9 computed directly, and its errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from rembert_tf import file_io
from rembert_tf.analysis import nn_translation
from rembert_tf.analysis import report
from rembert_tf.data import sentencepiece_vocab
from rembert_tf.modeling.checkpoints import restore_encoder
from rembert_tf.modeling.config import RemBertConfig
from rembert_tf.modeling.encoder import RemBertEncoder
from tests.tasks.conftest import SEQ_LENGTH

ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pairs() -> nn_translation.Pairs:
  return nn_translation.demo_pairs("en", "de", num_documents=8, seed=5)


def _reference(task_fixture, texts):
  """[L + 1, n, H]: each text alone through the encoder, unpadded, the mean
  over its tokens between [CLS] and [SEP] taken in NumPy."""
  vocab = sentencepiece_vocab.load_vocab(task_fixture.sp_model)
  encoder = RemBertEncoder(
      RemBertConfig.from_json_file(task_fixture.config_file),
      add_pooling_layer=False)
  restore_encoder(encoder, task_fixture.encoder_checkpoint)
  vectors = []
  for text in texts:
    ids = np.array([[vocab.special.cls, *vocab.processor.encode(text),
                     vocab.special.sep]], np.int32)
    outputs = encoder({"input_word_ids": ids, "input_mask": np.ones_like(ids),
                       "input_type_ids": np.zeros_like(ids)})
    vectors.append([np.asarray(layer)[0, 1:-1].mean(axis=0) for layer in
                    [outputs["embedding_output"], *outputs["encoder_outputs"]]])
  return np.array(vectors).transpose(1, 0, 2)


def _reference_accuracy(source, target):
  """A.9 by the letter: translate, then the L2-nearest target, one by one."""
  translated = source + np.mean(target - source, axis=0)
  nearest = [np.argmin([np.linalg.norm(v - t) for t in target])
             for v in translated]
  return float(np.mean(np.array(nearest) == np.arange(len(source))))


def test_matches_a_direct_numpy_computation(task_fixture, pairs, tmp_path):
  checkpoint = report.Checkpoint("tiny", task_fixture.encoder_checkpoint,
                                 task_fixture.config_file)
  summary = nn_translation.translate(
      pairs, [checkpoint], task_fixture.sp_model, str(tmp_path),
      languages=("en", "de"), max_seq_length=SEQ_LENGTH, batch_size=16)
  source = _reference(task_fixture, pairs.source)
  target = _reference(task_fixture, pairs.target)
  expected = [_reference_accuracy(s, t) for s, t in zip(source, target)]
  (result,) = summary["checkpoints"]
  assert len(pairs.source) > 16  # Several batches, the last one partial.
  assert summary["truncated"] == {"source": 0, "target": 0}
  assert result["layers"] == [0, 1, 2, 3]  # Embedding output and 3 layers.
  assert result["accuracy"] == expected
  # The batched, padded vectors are the unpadded ones.
  vocab = sentencepiece_vocab.load_vocab(task_fixture.sp_model)
  encoder, _ = nn_translation.load_encoder(checkpoint, vocab, SEQ_LENGTH)
  batched = nn_translation.sentence_vectors(
      encoder, nn_translation.pack(pairs.source, vocab, SEQ_LENGTH)[0], 16)
  np.testing.assert_allclose(batched, source, atol=1e-5)
  # The JSON holds what was plotted; the PNG is there.
  written = file_io.read_json(str(tmp_path / nn_translation.RESULTS_FILE))
  assert written == summary
  (series,) = written["plot"]["panels"][0]["series"]
  assert (series["x"], series["y"]) == (result["layers"], expected)
  assert written["plot"]["panels"][0]["chance"] == 1 / len(pairs.source)
  with open(tmp_path / nn_translation.PLOT_FILE, "rb") as f:
    assert f.read(8) == PNG_MAGIC


def _cli(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "-m", "rembert_tf.analysis.nn_translation", *args],
      cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
      capture_output=True, text=True, env=ENV, check=False)


def test_identical_languages_translate_perfectly(task_fixture, pairs,
                                                 tmp_path):
  """Source = target: the vector is 0, each sentence its own neighbour; two
  checkpoints (repeated flag) share one plot."""
  source = tmp_path / "en.txt"
  source.write_text("\n".join(pairs.source) + "\n", encoding="utf-8")
  output = tmp_path / "out"
  result = _cli(f"--source_file={source}", f"--target_file={source}",
                f"--init_checkpoint={task_fixture.encoder_checkpoint}",
                f"--init_checkpoint={task_fixture.encoder_checkpoint}",
                "--labels=a,b", f"--config_file={task_fixture.config_file}",
                f"--sp_model_file={task_fixture.sp_model}",
                f"--max_seq_length={SEQ_LENGTH}", "--languages=en,en",
                f"--output_dir={output}")
  assert result.returncode == 0, result.stderr
  summary = file_io.read_json(str(output / nn_translation.RESULTS_FILE))
  assert [r["label"] for r in summary["checkpoints"]] == ["a", "b"]
  assert all(r["accuracy"] == [1.0] * 4 for r in summary["checkpoints"])
  assert summary["pair"] == "en\u2192en" and "en\u2192en" in result.stdout


@pytest.mark.parametrize("files, message", [
    ({"pairs.tsv": "a\tb\nc d\n"},
     r"pairs.tsv:2: expected source<TAB>target, found 0 tabs"),
    ({"pairs.tsv": "a\tb\n\t\n"}, r"pairs.tsv:2: empty source sentence"),
    ({"pairs.tsv": "a\tb\nc\t \n"}, r"pairs.tsv:2: empty target sentence"),
    ({"pairs.tsv": ""}, r"pairs.tsv: no sentence pairs"),
    ({"src.txt": "a\nb\n", "tgt.txt": "a\nb\nc\n"},
     r"tgt.txt:3: no such line in .*src.txt, which has 2 lines to its 3"),
    ({"src.txt": "a\n\n", "tgt.txt": "a\nb\n"}, r"src.txt:2: empty source"),
    ({"src.txt": "a\n"}, r"tgt.txt does not exist"),
])
def test_bad_input_names_the_file_and_line(tmp_path, files, message):
  for name, text in files.items():
    (tmp_path / name).write_text(text, encoding="utf-8")
  if "pairs.tsv" in files:
    paths = {"pairs_file": str(tmp_path / "pairs.tsv")}
  else:
    paths = {"source_file": str(tmp_path / "src.txt"),
             "target_file": str(tmp_path / "tgt.txt")}
  with pytest.raises(report.AnalysisError, match=message):
    nn_translation.read_pairs(**paths)


def test_error_is_one_line_and_exit_1(tmp_path, capsys):
  """What the command line does with such an error (its main runs here)."""
  (tmp_path / "src.txt").write_text("a\nb\n", encoding="utf-8")
  (tmp_path / "tgt.txt").write_text("a\n", encoding="utf-8")
  with pytest.raises(SystemExit) as exit_info:
    report.exit_on_user_error(
        "nn_translation", lambda: nn_translation.read_pairs(
            source_file=f"{tmp_path}/src.txt",
            target_file=f"{tmp_path}/tgt.txt"))
  assert exit_info.value.code == 1
  assert capsys.readouterr().err.splitlines() == [
      f"nn_translation: error: {tmp_path}/src.txt:2: no such line in "
      f"{tmp_path}/tgt.txt, which has 1 lines to its 2; the files must be "
      "aligned line by line"]


def test_checkpoints_from_repeated_and_comma_flags(tmp_path):
  run = tmp_path / "run"
  (run / "encoder").mkdir(parents=True)
  (run / "config.json").write_text("{}", encoding="utf-8")
  config = str(run / "config.json")
  assert report.checkpoints_from_flags(
      [f"{run}/encoder/encoder-9,{run}/ckpt-9", str(run)], ["a,b", "c"],
      None) == [report.Checkpoint("a", f"{run}/encoder/encoder-9", config),
                report.Checkpoint("b", f"{run}/ckpt-9", config),
                report.Checkpoint("c", str(run), config)]
  with pytest.raises(report.AnalysisError, match=r"--labels: 1 label"):
    report.checkpoints_from_flags([str(run), f"{run}/ckpt-9"], ["a"], None)
  with pytest.raises(report.AnalysisError, match=r"pass --config_file"):
    report.checkpoints_from_flags([str(tmp_path / "other/ckpt-1")], None,
                                  None)
