"""End-to-end tests of create_pretraining_data.py, run as a subprocess."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "create_pretraining_data.py")
ENV = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(*args):
  return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True,
                        text=True, env=ENV, timeout=300, check=False)


def _error_lines(result):
  return [line for line in result.stderr.splitlines() if " error: " in line]


def _files(directory):
  return {p.name: p.read_bytes() for p in directory.iterdir()}


@pytest.fixture
def corpus(demo_root, tmp_path):
  """Two small languages in the --input_dir layout."""
  for lang in ("de", "hi"):
    os.makedirs(tmp_path / "in" / lang)
    with open(f"{demo_root}/pretrain/{lang}/demo.txt", encoding="utf-8") as f:
      docs = f.read().split("\n\n")[:40]
    (tmp_path / "in" / lang / "a.txt").write_text("\n\n".join(docs) + "\n",
                                                  encoding="utf-8")
  return tmp_path / "in"


def _args(corpus, out, sp_model, *extra):
  return (f"--input_dir={corpus}", f"--output_dir={out}", f"--sp_model_file={sp_model}",
          "--max_seq_length=40", "--max_predictions_per_seq=6", "--dupe_factor=2",
          "--num_shards=2", "--num_workers=1", *extra)


def _assert_clean_failure(result, out, message):
  assert result.returncode == 1, result.stderr
  assert message in result.stderr
  assert "Traceback" not in result.stderr
  left = os.listdir(out) if os.path.isdir(out) else []
  assert not [n for n in left if n.endswith((".incomplete", ".tfrecord"))], left


def test_end_to_end_and_restart(corpus, sp_model, tmp_path):
  out = tmp_path / "out"
  first = _run(*_args(corpus, out, sp_model, "--num_workers=2"))
  assert first.returncode == 0, first.stderr
  meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
  assert meta["languages"]["de"]["documents"] == 40
  assert meta["sampling"]["weights"] == pytest.approx({"de": 0.5, "hi": 0.5})
  assert "tokens/s" in first.stderr and "ETA" in first.stderr
  assert f"{out}/metadata.json" in first.stdout
  shard = out / "hi-00001-of-00002.tfrecord"
  before = {p.name: p.read_bytes() for p in out.iterdir()}
  os.remove(str(shard) + ".json")
  second = _run(*_args(corpus, out, sp_model))
  assert second.returncode == 0, second.stderr
  assert "Skipping 3 finished shards" in second.stderr
  assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_too_many_predictions(corpus, sp_model, tmp_path):
  out = tmp_path / "out"
  result = _run(*_args(corpus, out, sp_model, "--max_predictions_per_seq=39"))
  _assert_clean_failure(result, out, "--max_predictions_per_seq=39 must be between 1 "
                        "and max_seq_length - 2 = 38")


def test_flags_checked_before_demo_corpus_or_model_is_made(tmp_path):
  result = _run(f"--flagfile={REPO}/flags/demo_data.flags",
                f"--demo_corpus_dir={tmp_path / 'corpus'}",
                f"--sp_model_file={tmp_path / 'spm' / 'demo.model'}",
                f"--output_dir={tmp_path / 'out'}", "--max_seq_length=16")
  _assert_clean_failure(result, tmp_path / "out", "--max_predictions_per_seq=20 "
                        "must be between 1 and max_seq_length - 2 = 14")
  assert not os.listdir(tmp_path)


def test_undecodable_bytes_fail_or_skip(corpus, sp_model, tmp_path):
  bad = corpus / "hi" / "b.txt"
  bad.write_bytes("पहला वाक्य।\n\nदूसरा\n".encode() + b"\xff\xfe broken\n")
  out = tmp_path / "out"
  result = _run(*_args(corpus, out, sp_model, "--num_shards=1"))
  _assert_clean_failure(result, out, f"{bad}:4: not valid UTF-8")
  result = _run(*_args(corpus, out, sp_model, "--num_shards=1",
                       "--on_decode_error=skip"))
  assert result.returncode == 0, result.stderr
  meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
  assert meta["languages"]["hi"]["skipped_lines"] == 1


def test_missing_language_and_empty_language(corpus, sp_model, tmp_path):
  out = tmp_path / "out"
  result = _run(*_args(corpus, out, sp_model, "--languages=de,xx"))
  _assert_clean_failure(result, out, "Language 'xx': no files match")
  os.makedirs(corpus / "yy")
  (corpus / "yy" / "empty.txt").write_text("\n\n", encoding="utf-8")
  result = _run(*_args(corpus, out, sp_model, "--languages=de,yy"))
  _assert_clean_failure(result, out, "Language 'yy' has no text")


def test_model_without_special_tokens(corpus, tmp_path):
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  prefix = str(tmp_path / "plain")
  spm.SentencePieceTrainer.train(input=str(corpus / "de" / "a.txt"),
                                 model_prefix=prefix, vocab_size=60, minloglevel=2)
  out = tmp_path / "out"
  result = _run(*_args(corpus, out, prefix + ".model"))
  _assert_clean_failure(result, out, "plain.model lacks the special tokens")


def test_output_dir_with_other_settings(corpus, sp_model, tmp_path):
  out = tmp_path / "out"
  assert _run(*_args(corpus, out, sp_model)).returncode == 0
  before = sorted(os.listdir(out))
  result = _run(*_args(corpus, out, sp_model, "--random_seed=7"))
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert ("was made with other settings (random_seed: 12345 there, 7 now)"
          in result.stderr)
  assert sorted(os.listdir(out)) == before


def test_demo_preset_builds_corpus_model_and_shards(tmp_path):
  """flags/demo_data.flags, with its output paths moved into tmp_path."""
  out = tmp_path / "data"
  result = _run(f"--flagfile={REPO}/flags/demo_data.flags",
                f"--demo_corpus_dir={tmp_path / 'corpus'}",
                f"--sp_model_file={tmp_path / 'spm' / 'demo.model'}",
                f"--output_dir={out}", "--dupe_factor=1")
  assert result.returncode == 0, result.stderr
  meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
  assert len(meta["languages"]) == 8 and meta["max_seq_length"] == 128
  assert meta["sentencepiece"]["special_ids"]["pad"] == 0
  assert (tmp_path / "corpus" / "xnli" / "train-en.tsv").exists()
  assert (tmp_path / "corpus" / "squad" / "test-hi.json").exists()


def test_sentencepiece_cli(demo_root, tmp_path):
  env = {**os.environ, "PYTHONPATH": REPO}
  result = subprocess.run(
      [sys.executable, "-m", "rembert_tf.data.sentencepiece_vocab",
       f"--input_dir={demo_root}/pretrain", "--languages=en,zh",
       f"--model_prefix={tmp_path}/m", "--vocab_size=200"],
      capture_output=True, text=True, env=env, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == f"{tmp_path}/m.model"
  assert sorted(os.listdir(tmp_path)) == ["m.model", "m.vocab"]


def test_data_prep_never_imports_tensorflow():
  """Worker memory depends on it: TensorFlow alone is ~700 MB per process."""
  code = ("import sys, runpy; sys.argv = ['x', '--helpshort'];\n"
          "import rembert_tf.data.pipeline, rembert_tf.data.demo_corpus\n"
          "import rembert_tf.data.sentencepiece_vocab\n"
          "try:\n"
          f"  runpy.run_path({os.path.join(REPO, 'create_pretraining_data.py')!r},"
          " run_name='__main__')\n"
          "except SystemExit:\n"
          "  pass\n"
          "print(sorted(m for m in sys.modules if m.split('.')[0] in "
          "('tensorflow', 'tf_keras', 'official')))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": REPO}, timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip().splitlines()[-1] == "[]"


def test_output_dir_that_is_a_file(corpus, sp_model, tmp_path):
  out = tmp_path / "out"
  out.write_text("not a directory", encoding="utf-8")
  result = _run(*_args(corpus, out, sp_model))
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert _error_lines(result) == [
      f"create_pretraining_data.py: error: --output_dir={out}: {out} is a "
      "file, not a directory; pass a directory (it is created if missing)."]
  assert out.read_text(encoding="utf-8") == "not a directory"


@contextlib.contextmanager
def _tmpfs(path, size):
  """A small file system at `path` (root only; skips the test otherwise)."""
  os.makedirs(path)
  mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                          "tmpfs", str(path)], capture_output=True, check=False)
  if mount.returncode:
    pytest.skip("cannot mount a tmpfs here; test_full_disk_keeps_finished_"
                "shards (test_data_pipeline.py) injects the error instead")
  try:
    yield
  finally:
    subprocess.run(["umount", str(path)], check=True)


def test_full_disk_keeps_complete_shards_and_a_rerun_resumes(corpus, sp_model,
                                                             tmp_path):
  reference = tmp_path / "reference"
  assert _run(*_args(corpus, reference, sp_model)).returncode == 0
  disk = tmp_path / "disk"
  with _tmpfs(disk, "128k"):  # Room for one shard (<= 71 KB), not two.
    out = disk / "out"
    result = _run(*_args(corpus, out, sp_model))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (shard, stats), = [sorted(_files(out))]
    assert stats == shard + ".json" and _files(out)[shard] == (
        reference / shard).read_bytes()
    assert _error_lines(result) == [
        f"create_pretraining_data.py: error: --output_dir={out}: No space "
        f"left on device while writing; 1 of 4 shards complete and kept "
        f"({shard}; a complete one has its .json stats file beside it); "
        "metadata.json not written. Free space and rerun the same command: it "
        "resumes after the complete shards."]
    subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
    rerun = _run(*_args(corpus, out, sp_model))
    assert rerun.returncode == 0, rerun.stderr
    assert "Skipping 1 finished shards" in rerun.stderr
    assert _files(out) == _files(reference)


def test_sigkill_mid_run_then_rerun_equals_an_uninterrupted_run(
    demo_root, sp_model, tmp_path):
  def args(out):
    return (f"--input_file=de:{demo_root}/pretrain/de/demo.txt,"
            f"hi:{demo_root}/pretrain/hi/demo.txt", f"--output_dir={out}",
            f"--sp_model_file={sp_model}", "--max_seq_length=40",
            "--max_predictions_per_seq=6", "--dupe_factor=20",
            "--num_shards=4", "--num_workers=1")
  reference = tmp_path / "reference"
  assert _run(*args(reference)).returncode == 0
  out = tmp_path / "out"
  child = subprocess.Popen([sys.executable, SCRIPT, *args(out)], env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  while not list(out.glob("*.tfrecord.json")):  # The first finished shard.
    assert child.poll() is None and time.monotonic() < deadline
    time.sleep(0.001)
  child.send_signal(signal.SIGKILL)  # About 0.1 s into the next of 8 shards.
  child.wait()
  assert child.returncode == -signal.SIGKILL
  assert "metadata.json" not in _files(out)
  finished = len(list(out.glob("*.tfrecord.json")))
  assert 1 <= finished < 8
  rerun = _run(*args(out))
  assert rerun.returncode == 0, rerun.stderr
  assert f"Skipping {finished} finished shards" in rerun.stderr
  assert _files(out) == _files(reference)
