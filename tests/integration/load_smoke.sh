#!/usr/bin/env bash
# Smoke test of qwen3-tts-load: starts talker, vocoder and gateway on 127.0.0.1 with ports picked
# by the kernel, runs a short load with RSS sampling of all three stages, and checks the JSON.
#
#   load_smoke.sh TALKER_BIN VOCODER_BIN GATEWAY_BIN LOAD_BIN DEFAULT_GOLDEN_DIR
# The model comes from $QWEN3TTS_GOLDEN_DIR/models/tiny-customvoice (DEFAULT_GOLDEN_DIR when unset).
set -euo pipefail

if [[ $# -ne 5 ]]; then
  echo "usage: $0 TALKER_BIN VOCODER_BIN GATEWAY_BIN LOAD_BIN DEFAULT_GOLDEN_DIR" >&2
  exit 2
fi
talker_bin=$1 vocoder_bin=$2 gateway_bin=$3 load_bin=$4
model_dir=${QWEN3TTS_GOLDEN_DIR:-$5}/models/tiny-customvoice
if [[ ! -d $model_dir ]]; then
  echo "load_smoke: model directory $model_dir not found (set QWEN3TTS_GOLDEN_DIR)" >&2
  exit 1
fi

work=$(mktemp -d)
pids=()

# Always stop the servers, whatever happened: SIGTERM (their drain path), then SIGKILL for any
# that is still there after 15 s, so that a stuck drain cannot leave processes behind.
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "load_smoke: pid $pid ignored SIGTERM, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    for log in "$work"/*.err; do echo "--- $log (tail)" >&2; tail -n 20 "$log" >&2; done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# start NAME BIN ARGS...: runs a server with its stdout in $work/NAME.out.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
}

# address NAME WHAT: waits for the "<bin> WHAT on HOST:PORT" line of a server and prints HOST:PORT.
address() {
  local name=$1 what=$2 line
  for _ in $(seq 600); do
    line=$(grep -m1 " $what on " "$work/$name.out" 2>/dev/null || true)
    if [[ -n $line ]]; then
      echo "${line##* }"
      return 0
    fi
    sleep 0.1
  done
  echo "load_smoke: $name printed no '$what on' line within 60 s" >&2
  return 1
}

common=(--model-dir "$model_dir" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0)
start talker "$talker_bin" "${common[@]}" --threads 1
start vocoder "$vocoder_bin" "${common[@]}" --threads 1
talker=$(address talker listening)
vocoder=$(address vocoder listening)
start gateway "$gateway_bin" "${common[@]}" --talker "$talker" --vocoder "$vocoder"
gateway=$(address gateway listening)

metrics=()
for name in talker vocoder gateway; do
  metrics+=(--metrics "http://$(address "$name" metrics)/metrics")
done

"$load_bin" --target "$gateway" --streams 2 --duration 4 --max-seconds 2 --sample-interval 0.5 \
  "${metrics[@]}" --json "$work/load.json"

python3 - "$work/load.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
problems = []
if report["requests"]["ok"] <= 0:
    problems.append("no successful requests")
if report["requests"]["failed"] != 0:
    problems.append("failed requests: %s" % report["requests"]["failed_by_code"])
stages = {s["stage"] for s in report["rss"] if s["valid"] and s["end_bytes"] > 0}
if stages != {"talker", "vocoder", "gateway"}:
    problems.append("RSS figures for %s, expected talker, vocoder and gateway" % sorted(stages))
if problems:
    sys.exit("load_smoke: " + "; ".join(problems))
print("load_smoke: ok, %d requests, RSS for %s" % (report["requests"]["ok"], ", ".join(sorted(stages))))
EOF
