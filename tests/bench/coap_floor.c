/*
 * tests/bench/coap_floor.c - the floor of the CoAP ingest benchmark: a bare
 * libcoap server that answers every POST/PUT with 2.04 and a payload
 * "ok <n>" (what source.coap answers), doing nothing else.  It runs
 * libcoap's own blocking loop, so it costs only what libcoap costs.
 *
 *   kk-coap-floor HOST PORT      (SIGTERM/SIGINT to stop)
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t quit;
static unsigned long long n;

static void on_signal(int sig) {
  (void)sig;
  quit = 1;
}

static void handler(coap_resource_t *r, coap_session_t *s,
                    const coap_pdu_t *req, const coap_string_t *q,
                    coap_pdu_t *resp) {
  (void)r;
  (void)s;
  (void)q;
  size_t len, off, total;
  const uint8_t *data;
  coap_get_data_large(req, &len, &data, &off, &total);
  char buf[32];
  uint8_t b[4];
  int k = snprintf(buf, sizeof buf, "ok %llu", ++n);
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);
  coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(b, sizeof b, 0), b);
  coap_add_data(resp, (size_t)k, (const uint8_t *)buf);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
    return 2;
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
  coap_cleanup();
  return 0;
}
