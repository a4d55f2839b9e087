#!/usr/bin/env bash
# Run every benchmark (root) and print one summary table.
#
#   sudo benchmarks/run_all.sh [--multus PATH] [--repeat N] [--pods N] [--skip-api] [--profile]
#
# 1. benchmarks/install.sh      (only when the venv /opt/multus-bench has no multus, or --reinstall)
# 2. benchmarks/startup.py      CNI_COMMAND=VERSION start-up vs a bare interpreter
# 3. benchmarks/latency.py      ADD/DEL vs the bridge plugin called directly, 8-way throughput, RSS
# 4. benchmarks/api_requests.py API requests per ADD/DEL against a real kube-apiserver
# 5. benchmarks/profile_cni.py  (with --profile) where one ADD/DEL spends its time
# then benchmarks/summary.py. Results: benchmarks/results/*.json. Exit code: 0 when every
# benchmark ran without failed calls (missed targets do not fail the run; the table says MISS).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
MULTUS_ARGS=() REPEAT=3 PODS=50 SKIP_API=0 PROFILE=0 REINSTALL=0
while [ $# -gt 0 ]; do
  case $1 in
    --multus) MULTUS_ARGS=(--multus "$2"); shift 2;;
    --repeat) REPEAT=$2; shift 2;;
    --pods) PODS=$2; shift 2;;
    --skip-api) SKIP_API=1; shift;;
    --profile) PROFILE=1; shift;;
    --reinstall) REINSTALL=1; shift;;
    -h|--help) sed -n '2,14p' "$0"; exit 0;;
    *) echo "run_all.sh: unknown argument $1" >&2; exit 2;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run_all.sh: run as root (network namespaces)" >&2; exit 2; }

if [ ${#MULTUS_ARGS[@]} -eq 0 ]; then
  VENV=${MULTUS_BENCH_VENV:-/opt/multus-bench}
  if [ "$REINSTALL" = 1 ] || [ ! -x "$VENV/bin/multus" ]; then
    bash "$HERE/install.sh" "$VENV" >/dev/null || { echo "run_all.sh: install.sh failed" >&2; exit 1; }
  fi
fi

rc=0
step() {  # NAME CMD...
  local name=$1; shift
  printf '\n\033[1m### %s\033[0m\n' "$name"
  "$@"
  local r=$?
  if [ $r -ne 0 ]; then
    echo "run_all.sh: $name exited $r" >&2
    rc=1
  fi
  return 0
}

echo "run_all.sh: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
step startup "$PY" "$HERE/startup.py" "${MULTUS_ARGS[@]}"
step latency "$PY" "$HERE/latency.py" "${MULTUS_ARGS[@]}" -n "$PODS" --repeat "$REPEAT"
if [ "$SKIP_API" = 0 ]; then
  step api_requests "$PY" "$HERE/api_requests.py" "${MULTUS_ARGS[@]}" -n "$PODS"
else
  rm -f "$HERE/results/api_requests.json"
fi
if [ "$PROFILE" = 1 ]; then
  step profile "$PY" "$HERE/profile_cni.py" "${MULTUS_ARGS[@]}"
fi
printf '\n'
"$PY" "$HERE/summary.py"
exit $rc
