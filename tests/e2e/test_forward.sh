#!/usr/bin/env bash
# Forwarding sinks (publish.webhook, publish.sensorthings, publish.ngsild)
# against local receivers that fail for a while; see test_forward.py.
# publish.mqtt against a real mosquitto: test_forward_mqtt.sh.
exec python3 "$(dirname "$0")/test_forward.py"
