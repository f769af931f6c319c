#!/usr/bin/env bash
# The README's commands. Each creates .venv (Python 3.11) with the pinned stack on
# first use (about 2 minutes, 3.3 GB), then runs:
#   ./dev.sh demo    the main job: data prep + pre-training on the embedded corpus
#   ./dev.sh test    the test suite (extra pytest arguments pass through)
#   ./dev.sh bench   every benchmark, one table (bench/run_benchmarks.py; it
#                    also installs the peers: torch==2.13.0, transformers)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV="${REMBERT_VENV:-.venv}"
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3

find_python() {
  local candidate
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c \
        'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "dev.sh: Python 3.11 is required (tried python3.11, python3, python)" >&2
  exit 1
}

# Installs the package and `extra` into the venv unless this exact set of pins
# is already there (a stamp named by the hash of the pin files).
ensure_venv() {
  local extra="$1" digest stamp
  digest=$(cat pyproject.toml requirements/*.txt | sha256sum | cut -c1-16)
  stamp="$VENV/.installed-$digest-${extra:-base}"
  [ -f "$stamp" ] && return
  [ -x "$VENV/bin/python" ] || "$(find_python)" -m venv "$VENV"
  echo "dev.sh: installing the pinned stack into $VENV ..." >&2
  "$VENV/bin/python" -m pip install --quiet -c requirements/lock.txt \
      -e ".${extra:+[$extra]}"
  touch "$stamp"
}

case "${1:-}" in
  demo)
    ensure_venv ""
    "$VENV/bin/python" -m rembert_tf.demo "${@:2}"
    ;;
  test)
    ensure_venv test
    "$VENV/bin/python" -m pytest "${@:2}"
    ;;
  bench)
    ensure_venv test
    "$VENV/bin/python" bench/run_benchmarks.py "${@:2}"
    ;;
  *)
    echo "usage: ./dev.sh demo | ./dev.sh test [pytest args] | ./dev.sh bench [args]" >&2
    exit 2
    ;;
esac
