#!/usr/bin/env bash
# Capture one Node run into a corpus folder:
#
#   tests/corpus/_capture/node/capture.sh OUT_DIR PROJECT_DIR SCRIPT [NAME=VALUE ...]
#
# PROJECT_DIR is an installed copy of vercel-ai/ or traceloop-node/ (npm ci, outside the repo);
# SCRIPT one of its .mjs files; NAME=VALUE pairs are passed to it as environment variables.
# Starts the corpus fake provider (PROVIDER_PORT, default 8900) and the chunk-aware recorder
# (RECEIVER_PORT, default 4318; receiver.py cannot read the JS exporters' chunked bodies),
# runs the script with OTEL_EXPORTER_OTLP_ENDPOINT / TRACELOOP_BASE_URL / PROVIDER pointing at them,
# then stops both. Run from the repository root.
set -euo pipefail
out=$1 project=$2 script=$3; shift 3
pport=${PROVIDER_PORT:-8900} rport=${RECEIVER_PORT:-4318}
py=${PYTHON:-.venv/bin/python}
"$py" -m tests.corpus._capture.provider --port "$pport" & provider=$!
"$py" -m tests.corpus._capture.receiver_chunked "$out" --port "$rport" & receiver=$!
trap 'kill $provider $receiver 2>/dev/null || true' EXIT
sleep 2
(cd "$project" && env OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$rport" TRACELOOP_BASE_URL="http://127.0.0.1:$rport" \
  PROVIDER="http://127.0.0.1:$pport" "$@" node "$script")
sleep 1
ls "$out"
