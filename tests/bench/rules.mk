# tests/bench/rules.mk - the benchmark tools (included by the Makefile).
# Each links the one protocol library it measures, not klimakit, so that
# its figures are the floor klimakit's are compared with.
#
# MQTT: kk-mqtt-pub (the libmosquitto publisher, tests/bench/mqtt_pub.c) and
# kk-mqtt-floor (a bare libmosquitto consumer that only counts messages)
# are built for `make bench` (tests/bench/mqtt.sh).  They link libmosquitto
# only, not klimakit; kk-mqtt-store-floor (below) adds cJSON and SQLite.

MQTT_TOOLS := $(BUILD)/tests/kk-mqtt-pub $(BUILD)/tests/kk-mqtt-floor \
              $(BUILD)/tests/kk-mqtt-store-floor

$(BUILD)/tests/kk-mqtt-pub: tests/bench/mqtt_pub.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libmosquitto) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libmosquitto)

$(BUILD)/tests/kk-mqtt-floor: tests/bench/mqtt_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libmosquitto) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libmosquitto)

# kk-mqtt-store-floor: the floor that stores (tests/bench/mqtt_stock.sh),
# libmosquitto, cJSON and SQLite doing the stock pipeline's work in one
# thread.
$(BUILD)/tests/kk-mqtt-store-floor: tests/bench/mqtt_store_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libmosquitto libcjson sqlite3) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libmosquitto libcjson sqlite3)

bench: $(MQTT_TOOLS)
# The store floor is built with the unit tests too, so that every test run
# compiles it with -Werror.  Not the other two: test_mqtt_burst builds a
# plain publisher of its own when build/ has none, which keeps the
# publisher unsanitized in the ASan run.
unit: $(BUILD)/tests/kk-mqtt-store-floor

# CoAP: kk-coap-load (a libcoap load generator) and kk-coap-floor (a bare
# libcoap server answering 2.04), for tests/bench/coap.sh.  They are built
# with the unit tests too, so that every test run compiles them.

COAP_TOOLS := $(BUILD)/tests/kk-coap-load $(BUILD)/tests/kk-coap-floor

$(BUILD)/tests/kk-coap-load: tests/bench/coap_load.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libcoap-3-openssl) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libcoap-3-openssl)

$(BUILD)/tests/kk-coap-floor: tests/bench/coap_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libcoap-3-openssl) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libcoap-3-openssl)

unit: $(COAP_TOOLS)
bench: $(COAP_TOOLS)

# HTTP: kk-http-floor, the bare h2o server that is the floor of the HTTP
# benchmarks (tests/bench/http.sh).
$(BUILD)/tests/kk-http-floor: tests/bench/http_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(KK_LDFLAGS) -o $@ $< -lh2o -luv -lssl -lcrypto -lz

bench: $(BUILD)/tests/kk-http-floor
