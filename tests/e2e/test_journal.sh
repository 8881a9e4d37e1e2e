#!/usr/bin/env bash
# Corrupt journal records are quarantined, counted, logged (see journal_corrupt.py).
exec python3 "$(dirname "$0")/journal_corrupt.py"
