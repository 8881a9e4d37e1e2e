# tests/bench/rules.mk - MQTT benchmark tools (included by the Makefile).
#
# kk-mqtt-pub (the libmosquitto publisher, tests/bench/mqtt_pub.c) and
# kk-mqtt-floor (a bare libmosquitto consumer that only counts messages)
# are built for `make bench` (tests/bench/mqtt.sh).  They link libmosquitto
# only, not klimakit.

MQTT_TOOLS := $(BUILD)/tests/kk-mqtt-pub $(BUILD)/tests/kk-mqtt-floor

$(BUILD)/tests/kk-mqtt-pub: tests/bench/mqtt_pub.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libmosquitto) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libmosquitto)

$(BUILD)/tests/kk-mqtt-floor: tests/bench/mqtt_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libmosquitto) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libmosquitto)

bench: $(MQTT_TOOLS)
