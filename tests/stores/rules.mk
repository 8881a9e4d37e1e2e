# tests/stores/rules.mk - storage test tools and benchmarks (included by
# the Makefile).
#
#   make bench-large   the store benchmarks on 100 M observations
#
# kk-store-query (the query API on the command line) and kk-store-floor
# (the raw insert floors) are built with the unit tests, so that
# `make test` has them for tests/e2e/test_store*.sh.

STORE_TOOLS := $(BUILD)/tests/kk-store-query $(BUILD)/tests/kk-store-floor

$(BUILD)/tests/kk-store-query: tests/stores/store_query.c $(BUILD)/libklimakit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(PKG_CFLAGS) $(KK_LDFLAGS) -o $@ $< \
	  -Wl,--whole-archive $(BUILD)/libklimakit.a -Wl,--no-whole-archive $(KK_LIBS)

$(BUILD)/tests/kk-store-floor: tests/stores/store_floor.c $(BUILD)/libklimakit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(PKG_CFLAGS) $(KK_LDFLAGS) -o $@ $< \
	  $(BUILD)/libklimakit.a $(KK_LIBS) $(LAZY_LIBS)

unit: $(STORE_TOOLS)
bench: $(STORE_TOOLS)

.PHONY: bench-large
bench-large: deps
	@$(MAKE) --no-print-directory all $(STORE_TOOLS)
	KK_BUILD=$(BUILD) KK_BENCH_OBS=100000000 KK_BENCH_TSV=$(BUILD)/bench-large.tsv tests/bench/store.sh
