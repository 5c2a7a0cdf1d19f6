#!/usr/bin/env bash
# Serves a chart repository of the support services' stand-in charts
# (tests/charts/mirror: the same names and value layout as upstream's) on
# 127.0.0.1:PORT (default 8879), for the README's local walkthrough: the local
# API server (Kubernetes 1.20) is older than the upstream charts accept, and
# the walkthrough must work without the internet. Stop it with
# `kill $(cat $DIR/server.pid)`.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR="${DIR:-/tmp/charts-dev}"
PORT="${PORT:-8879}"
HELM="${TPT_HELM:-helm}"
mkdir -p "$DIR"
for chart in tests/charts/mirror/*/; do
  "$HELM" package "$chart" --destination "$DIR" >/dev/null
done
"$HELM" repo index "$DIR" --url "http://127.0.0.1:$PORT"
nohup python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$DIR" >"$DIR/server.log" 2>&1 &
echo $! >"$DIR/server.pid"
for _ in $(seq 50); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/index.yaml')" 2>/dev/null; then
    echo "chart repository http://127.0.0.1:$PORT"; exit 0
  fi
  sleep 0.1
done
echo "the chart repository did not start (see $DIR/server.log)" >&2
exit 1
