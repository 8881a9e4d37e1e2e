#!/usr/bin/env bash
# publish.mqtt against a real mosquitto; see test_forward_mqtt.py.
exec python3 "$(dirname "$0")/test_forward_mqtt.py"
