#!/usr/bin/env bash
# docs/dashboard.png: optuna-dashboard on the demo search of docs/make_images.py, in headless Chromium.
# Needs `pip install optuna-dashboard` and Debian's chromium (neither is a dependency of actsearch).
set -euo pipefail
cd "$(dirname "$0")/.."
store="sqlite:///results/docs-demo.db"
optuna-dashboard "$store" --host 127.0.0.1 --port 8089 >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
sleep 5
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --virtual-time-budget=15000 \
    --window-size=1400,1000 --screenshot=docs/dashboard.png "http://127.0.0.1:8089/dashboard/studies/1"
