"""Repository rules that would otherwise rot: tf_keras only, BUILD, README, quiet import."""

import os
import re
import subprocess
import sys

import pytest

_SKIP_DIRS = {".venv", ".git", "__pycache__", "build", "out"}


def _python_files(root):
  for directory, dirs, files in os.walk(root):
    dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
    for name in files:
      if name.endswith(".py"):
        yield os.path.relpath(os.path.join(directory, name), root)


def test_sources_use_tf_keras_never_keras_3(repo_root):
  keras3 = re.compile(r"(^|[^_\w])tf\.keras\b|^\s*(import|from)\s+keras\b", re.M)
  offenders = [path for path in _python_files(repo_root)
               if keras3.search(open(os.path.join(repo_root, path),
                                     encoding="utf-8").read())]
  assert not offenders


def test_every_module_script_and_test_is_in_build(repo_root):
  build = open(os.path.join(repo_root, "BUILD"), encoding="utf-8").read()
  listed = set(re.findall(r'"([\w/]+\.py)"', build))
  missing = sorted(set(_python_files(repo_root)) - listed)
  assert not missing, f"add these to BUILD: {missing}"
  stale = sorted(p for p in listed if not os.path.exists(os.path.join(repo_root, p)))
  assert not stale, f"BUILD lists files that do not exist: {stale}"
  test_targets = set(re.findall(
      r'"([\w/]+\.py)"', build.split("for src in [", 1)[1]))
  tests = {p for p in listed if os.path.basename(p).startswith("test_")}
  assert tests <= test_targets, f"no py_test for {sorted(tests - test_targets)}"


def test_import_is_quiet_without_a_gpu(repo_root):
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_USE_LEGACY_KERAS")}
  result = subprocess.run(
      [sys.executable, "-c", "import rembert_tf; print(rembert_tf.RemBertConfig)"],
      cwd=repo_root, env=env, capture_output=True, text=True, check=True)
  assert result.stderr == ""
  assert result.stdout.strip() == "<class 'rembert_tf.modeling.config.RemBertConfig'>"


def _readme(repo_root):
  return open(os.path.join(repo_root, "README.md"), encoding="utf-8").read()


def test_readme_starts_with_the_two_commands(repo_root):
  blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", _readme(repo_root), re.S)
  commands = [line for line in blocks[0].splitlines()
              if line.strip() and not line.startswith("#")]
  assert commands == ["./dev.sh demo", "./dev.sh test"]


def test_readme_python_example_runs(repo_root, capsys):
  example = re.search(r"```python\n(.*?)```", _readme(repo_root), re.S).group(1)
  exec(compile(example, "README.md", "exec"), {})  # pylint: disable=exec-used
  printed = capsys.readouterr().out
  assert "(2, 3, 250300)" not in printed  # The example uses a small config...
  assert re.search(r"mlm_logits \(2, 3, \d+\)", printed)  # ...and shows shapes.


@pytest.mark.parametrize("path", ["dev.sh", ".ci/run"])
def test_entry_scripts_are_executable(repo_root, path):
  assert os.access(os.path.join(repo_root, path), os.X_OK)
