#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite as root. The session moves into a lab
# network namespace of its own (pytest --multus-lab): the machine's network is never touched.
#   scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${MULTUS_VENV:-$PWD/.venv}
set +e
"$VENV/bin/python" -m pytest --multus-lab "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "test.sh: no tests were collected" >&2; exit 1; fi
exit "$rc"
