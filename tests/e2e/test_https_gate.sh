#!/usr/bin/env bash
# The HTTP server's gate over TLS, with curl (see https_gate.py).
exec python3 "$(dirname "$0")/https_gate.py"
