#!/usr/bin/env bash
# The dashboard in headless Chromium (see dashboard.py).
exec python3 "$(dirname "$0")/dashboard.py"
