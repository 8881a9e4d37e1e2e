# tests/http/rules.mk - the bare h2o server that is the floor of the HTTP
# benchmarks (tests/bench/http.sh).  Links h2o only, not klimakit.
$(BUILD)/tests/kk-http-floor: tests/bench/http_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(KK_LDFLAGS) -o $@ $< -lh2o -luv -lssl -lcrypto -lz

bench: $(BUILD)/tests/kk-http-floor
