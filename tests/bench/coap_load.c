/*
 * tests/bench/coap_load.c - load generator for the CoAP ingest benchmark.
 *
 *   kk-coap-load HOST PORT COUNT [SESSIONS [WINDOW [non]]]
 *
 * POSTs COUNT small SenML JSON packs (Content-Format 110) to
 * coap://HOST:PORT/r/bench-<k>, from SESSIONS client sessions (local
 * ports), each keeping WINDOW requests in flight (CON with nstart =
 * WINDOW, or NON with "non").  Prints one line:
 *   sent N changed N busy N other N lost N seconds S rate R maxage N
 * where rate counts 2.04 answers per second and maxage the 5.03 answers
 * (busy) that carried a Max-Age option.  Exit 0 when every request
 * got an answer (NON: answers may be lost; they are counted as lost).
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long total, sent, answered, changed, busy, busy_maxage, other;
static int use_non;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_one(coap_session_t *s) {
  if (sent >= total) return;
  unsigned long k = sent++;
  coap_pdu_t *pdu = coap_new_pdu(use_non ? COAP_MESSAGE_NON : COAP_MESSAGE_CON,
                                 COAP_REQUEST_CODE_POST, s);
  if (!pdu) return;
  uint8_t tok[8], b[4];
  size_t tl;
  coap_session_new_token(s, &tl, tok);
  coap_add_token(pdu, tl, tok);
  char seg[32], body[160];
  int sl = snprintf(seg, sizeof seg, "bench-%lu", k % 100);
  coap_add_option(pdu, COAP_OPTION_URI_PATH, 1, (const uint8_t *)"r");
  coap_add_option(pdu, COAP_OPTION_URI_PATH, (size_t)sl, (const uint8_t *)seg);
  coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(b, sizeof b, 110), b);
  int bl = snprintf(body, sizeof body,
                    "[{\"bn\":\"urn:dev:bench-%lu:\",\"bt\":%lu,\"n\":\"co2\","
                    "\"u\":\"ppm\",\"v\":%lu}]",
                    k % 100, 1795420800UL + k, 400 + k % 997);
  coap_add_data(pdu, (size_t)bl, (const uint8_t *)body);
  coap_send(s, pdu);
}

static coap_response_t on_response(coap_session_t *s,
                                   const coap_pdu_t *sent_pdu,
                                   const coap_pdu_t *recv,
                                   const coap_mid_t mid) {
  (void)sent_pdu;
  (void)mid;
  coap_pdu_code_t c = coap_pdu_get_code(recv);
  answered++;
  if (c == COAP_RESPONSE_CODE_CHANGED)
    changed++;
  else if (c == COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE) {
    coap_opt_iterator_t oi;
    busy++;
    if (coap_check_option(recv, COAP_OPTION_MAXAGE, &oi)) busy_maxage++;
  } else
    other++;
  send_one(s);
  return COAP_RESPONSE_OK;
}

static unsigned long lost;
static void on_nack(coap_session_t *s, const coap_pdu_t *p,
                    const coap_nack_reason_t r, const coap_mid_t mid) {
  (void)p;
  (void)r;
  (void)mid;
  lost++;
  send_one(s);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s HOST PORT COUNT [SESSIONS [WINDOW [non]]]\n",
            argv[0]);
    return 2;
  }
  total = strtoul(argv[3], NULL, 10);
  int nsess = argc > 4 ? atoi(argv[4]) : 4;
  int window = argc > 5 ? atoi(argv[5]) : 32;
  use_non = argc > 6 && strcmp(argv[6], "non") == 0;
  if (nsess < 1 || nsess > 64 || window < 1 || window > 1024) return 2;
  coap_startup();
  coap_set_log_level(LOG_ERR);
  coap_context_t *ctx = coap_new_context(NULL);
  coap_register_response_handler(ctx, on_response);
  coap_register_nack_handler(ctx, on_nack);
  coap_address_t dst;
  coap_address_init(&dst);
  dst.size = sizeof dst.addr.sin;
  dst.addr.sin.sin_family = AF_INET;
  dst.addr.sin.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &dst.addr.sin.sin_addr) != 1) return 2;
  coap_session_t *ss[64];
  for (int i = 0; i < nsess; i++) {
    ss[i] = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
    if (!ss[i]) return 1;
    coap_session_set_nstart(ss[i], (uint16_t)window);
  }
  double t0 = now_s();
  for (int w = 0; w < window; w++)
    for (int i = 0; i < nsess; i++)
      send_one(ss[i]);
  double idle_since = now_s();
  unsigned long last = 0;
  while (answered + lost < total) {
    coap_io_process(ctx, 100);
    if (answered + lost != last) {
      last = answered + lost;
      idle_since = now_s();
    } else if (now_s() - idle_since > (use_non ? 1.0 : 60.0)) {
      lost += total - answered - lost; /* NON answers that never came */
      break;
    }
  }
  double secs = now_s() - t0;
  printf("sent %lu changed %lu busy %lu other %lu lost %lu seconds %.3f "
         "rate %.0f maxage %lu\n",
         sent, changed, busy, other, lost, secs, (double)changed / secs,
         busy_maxage);
  for (int i = 0; i < nsess; i++)
    coap_session_release(ss[i]);
  coap_free_context(ctx);
  coap_cleanup();
  return answered == total ? 0 : 1;
}
