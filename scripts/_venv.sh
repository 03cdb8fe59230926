# Sourced by scripts/demo and scripts/test: make .venv exist and match pyproject.toml.
# Re-installs when pyproject.toml is newer than the last install (the stamp file), so the
# scripts are idempotent and a fresh clone needs nothing else.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"
PY="${PYTHON:-python3}"
stamp="$VENV/.fognet-installed${EXTRAS:+-$EXTRAS}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "setting up $VENV ..." >&2
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    echo "installing fognet${EXTRAS:+[$EXTRAS]} into $VENV ..." >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q -e "$ROOT${EXTRAS:+[$EXTRAS]}" >&2
    touch "$stamp"
fi
