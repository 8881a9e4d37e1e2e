#!/usr/bin/env bash
# SIGKILL at random moments while a client streams acknowledged readings;
# every acknowledged reading must reach the sink (see crash.py).
exec python3 "$(dirname "$0")/crash.py"
