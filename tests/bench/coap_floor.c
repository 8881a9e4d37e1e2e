/*
 * tests/bench/coap_floor.c - the floor of the CoAP ingest benchmark: a bare
 * libcoap server that does what a minimal useful ingest server must do and
 * answers what source.coap answers, nothing more:
 *
 *   - POST and PUT on any path; the Uri-Path is assembled ("/r/bench-7")
 *     and must match "/r/<thing>" (else 4.04, like source.coap's default
 *     `paths`);
 *   - Content-Format must be present and one of 110, 112, 50, 60, 0 (else
 *     4.15); the body must fit 64 KiB (else 4.13);
 *   - the body is kept: appended with its path and Content-Format to OUT
 *     through stdio (buffered, not synced: like klimakit's journal with
 *     fsync = never, what is acknowledged has been handed on);
 *   - the answer is 2.04 Changed with Content-Format 0 and "ok <n>", the
 *     same code, option and payload shape as source.coap's.
 *
 * It does not decode the SenML (klimakit does, into readings), so the
 * ratio includes klimakit's decoding.  It runs libcoap's own blocking loop,
 * so it costs only what libcoap costs.
 *
 *   kk-coap-floor HOST PORT [OUT]      (default OUT /dev/null;
 *                                      SIGTERM/SIGINT to stop)
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t quit;
static unsigned long long n;
static FILE *out;

static void on_signal(int sig) {
  (void)sig;
  quit = 1;
}

static void answer_text(coap_pdu_t *resp, coap_pdu_code_t code,
                        const char *text, size_t len) {
  uint8_t b[4];
  coap_pdu_set_code(resp, code);
  coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(b, sizeof b, 0), b);
  coap_add_data(resp, len, (const uint8_t *)text);
}

static void handler(coap_resource_t *r, coap_session_t *s,
                    const coap_pdu_t *req, const coap_string_t *q,
                    coap_pdu_t *resp) {
  (void)r;
  (void)s;
  (void)q;
  char path[256];
  coap_string_t *up = coap_get_uri_path(req);
  int pl = snprintf(path, sizeof path, "/%.*s", up ? (int)up->length : 0,
                    up ? (const char *)up->s : "");
  coap_delete_string(up);
  if (pl < 4 || pl >= (int)sizeof path || strncmp(path, "/r/", 3) != 0 ||
      strchr(path + 3, '/')) {
    answer_text(resp, COAP_RESPONSE_CODE_NOT_FOUND, "no such resource", 16);
    return;
  }
  coap_opt_iterator_t oi;
  coap_opt_t *cf = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &oi);
  unsigned format =
      cf ? coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf))
         : 9999;
  if (format != 110 && format != 112 && format != 50 && format != 60 &&
      format != 0) {
    answer_text(resp, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
                "unsupported Content-Format", 26);
    return;
  }
  size_t len = 0, off, total = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data_large(req, &len, &data, &off, &total)) len = total = 0;
  if (total > 65536 || len > 65536) {
    answer_text(resp, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE, "too large", 9);
    return;
  }
  fprintf(out, "%s %u %zu ", path, format, len);
  if (len) fwrite(data, 1, len, out);
  putc('\n', out);
  char buf[32];
  int k = snprintf(buf, sizeof buf, "ok %llu", ++n);
  answer_text(resp, COAP_RESPONSE_CODE_CHANGED, buf, (size_t)k);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s HOST PORT [OUT]\n", argv[0]);
    return 2;
  }
  out = fopen(argc > 3 ? argv[3] : "/dev/null", "w");
  if (!out) {
    perror(argc > 3 ? argv[3] : "/dev/null");
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  coap_startup();
  coap_set_log_level(LOG_ERR);
  coap_context_t *ctx = coap_new_context(NULL);
  coap_context_set_block_mode(ctx,
                              COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_address_t a;
  coap_address_init(&a);
  a.size = sizeof a.addr.sin;
  a.addr.sin.sin_family = AF_INET;
  a.addr.sin.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &a.addr.sin.sin_addr) != 1) return 2;
  if (!coap_new_endpoint(ctx, &a, COAP_PROTO_UDP)) {
    fprintf(stderr, "cannot listen on %s:%s\n", argv[1], argv[2]);
    return 1;
  }
  coap_resource_t *res = coap_resource_unknown_init2(handler, 0);
  coap_register_handler(res, COAP_REQUEST_POST, handler);
  coap_add_resource(ctx, res);
  printf("listening\n");
  fflush(stdout);
  while (!quit)
    coap_io_process(ctx, 200);
  coap_free_context(ctx);
  fclose(out);
  coap_cleanup();
  return 0;
}
