# tests/fuzz/rules.mk - libFuzzer targets for every parser of outside input.
#
#   make fuzz                 build and run each target FUZZ_SECONDS (60)
#   make fuzz FUZZ_SECONDS=1800
#   make fuzz-build           only build them (build/fuzz/fuzz_*)
#
# make fuzz prints "ok fuzz/<target> ..." or "FAIL fuzz/<target>: why" per
# target and "N passed, N failed, 0 skipped" (tests/fuzz/run.sh); a target
# that does not build counts as failed, and the others still run.
#
# The parsers are compiled with clang -fsanitize=fuzzer,address; the rest
# of the library comes from build/libklimakit.a (not instrumented).  The
# corpus of each target is seeded from tests/e2e/data/decoders/ (copies of
# the published vectors) into build/fuzz/corpus-<target>/.  fuzz_lua (the
# Lua decoder bridge) includes modules/decode/lua.c itself, so that its
# static functions are reachable, and loads recipes/decoders/*.lua at run
# time: run it from the repository root.
#
# fuzz_file_csv (the CSV and JSON-lines readers of source.file) includes
# modules/source/file.c the same way, with the stage calls it makes
# redirected to stubs.  tests/fuzz/seed.py adds a few small valid inputs
# to the vectors; the parsers run under UBSan as well as ASan.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_TARGETS := senml_json senml_cbor ttn_v3 chirpstack_v4 json lua sta lua_pattern \
                source_payload reading_json time file_csv sensor_community tasmota \
                uba telraam sta_obs dwd http_poll measures dead_letter raw_meta
FUZZ_PARSERS := modules/decode/decode_senml.c modules/decode/decode_senml_names.c modules/decode/decode_uplink.c \
                modules/decode/decode_flat.c \
                modules/decode/decode_common.c modules/publish/sensorthings/sta_query.c \
                modules/source/source_payload.c core/reading_json.c core/time.c
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -std=c11 -D_GNU_SOURCE -Iinclude -Icore -Imodules

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

# Files a target includes.
build/fuzz/fuzz_file_csv: modules/source/file.c
build/fuzz/fuzz_chirpstack_v4: tests/fuzz/fuzz_ttn_v3.c
build/fuzz/fuzz_sensor_community: modules/source/source_sensor_community.c
build/fuzz/fuzz_tasmota: modules/decode/tasmota.c
$(patsubst %,build/fuzz/fuzz_%,uba telraam sta_obs dwd): modules/decode/decode_opendata.c modules/decode/uba.c modules/decode/telraam.c modules/decode/sensorthings.c modules/decode/dwd.c
build/fuzz/fuzz_lua_pattern: core/lua_pattern.c
build/fuzz/fuzz_dead_letter: core/journal_dead.c

# The old binary goes first: a target that no longer builds must not be
# run in its earlier form.
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_PARSERS) build/libklimakit.a
	@mkdir -p $(@D)
	@rm -f $@
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $< $(FUZZ_PARSERS) \
	  -Wl,-E build/libklimakit.a $(KK_LIBS)

build/fuzz/fuzz_lua: modules/decode/lua/lua.c tests/fuzz/fuzz_lua_garbage.lua

fuzz:
	@$(MAKE) --no-print-directory -k fuzz-build || \
	  echo "fuzz: some targets did not build; they count as failed" >&2
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
