#!/usr/bin/env bash
# Decoder rejects are dead letters; the datastream limits are kk.config
# options (see dead_letters.py).
exec python3 "$(dirname "$0")/dead_letters.py"
