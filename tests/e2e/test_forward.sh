#!/usr/bin/env bash
# Forwarding sinks (forward.webhook, publish.sensorthings, forward.ngsild)
# against local receivers that fail for a while; see test_forward.py.
# publish.mqtt against a real mosquitto: test_forward_mqtt.sh.
exec python3 "$(dirname "$0")/test_forward.py"
