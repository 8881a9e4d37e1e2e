#!/usr/bin/env bash
# HTTP ingest with tokens, TLS, shared server (see http_ingest.py).
exec python3 "$(dirname "$0")/http_ingest.py"
