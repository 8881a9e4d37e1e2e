#!/usr/bin/env bash
# source.tcp: clients that never read their answers (see tcp_unread.py).
exec python3 "$(dirname "$0")/tcp_unread.py"
