# tests/coap/rules.mk - CoAP benchmark tools (included by the Makefile).
#
# kk-coap-load (a libcoap load generator) and kk-coap-floor (a bare
# libcoap server answering 2.04) are built for `make bench`
# (tests/bench/coap.sh).  They link libcoap only, not klimakit.

COAP_TOOLS := $(BUILD)/tests/kk-coap-load $(BUILD)/tests/kk-coap-floor

$(BUILD)/tests/kk-coap-load: tests/bench/coap_load.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libcoap-3-openssl) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libcoap-3-openssl)

$(BUILD)/tests/kk-coap-floor: tests/bench/coap_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(shell pkg-config --cflags libcoap-3-openssl) $(KK_LDFLAGS) -o $@ $< $(shell pkg-config --libs libcoap-3-openssl)

unit: $(COAP_TOOLS)
bench: $(COAP_TOOLS)
