#!/usr/bin/env bash
# A slow sink pauses the source (see backpressure.py).
exec python3 "$(dirname "$0")/backpressure.py"
