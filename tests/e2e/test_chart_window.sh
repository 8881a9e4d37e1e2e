#!/usr/bin/env bash
# The window a chart says it averages over is the one it uses (see chart_window.py).
exec python3 "$(dirname "$0")/chart_window.py"
