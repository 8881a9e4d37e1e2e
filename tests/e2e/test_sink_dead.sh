#!/usr/bin/env bash
# A sink batch that fails for good is a dead letter (see sink_dead.py).
exec python3 "$(dirname "$0")/sink_dead.py"
