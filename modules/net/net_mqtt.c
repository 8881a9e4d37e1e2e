/* modules/net/net_mqtt.c - see mqtt_common.h. */
#include "net/net_mqtt.h"

#include <klimakit.h>
#include <stdlib.h>
#include <string.h>

int net_mqtt_parse_url(const char *url, char *host, size_t hostlen, int *port,
                       int *tls) {
  const char *rest;
  if (!strncmp(url, "mqtt://", 7)) {
    rest = url + 7;
    *tls = 0;
    *port = 1883;
  } else if (!strncmp(url, "mqtts://", 8)) {
    rest = url + 8;
    *tls = 1;
    *port = 8883;
  } else {
    return KK_EPARSE;
  }
  size_t hl = strcspn(rest, "/");
  char hp[300];
  if (hl == 0 || hl >= sizeof hp) return KK_EPARSE;
  memcpy(hp, rest, hl);
  hp[hl] = '\0';
  char *h = hp, *colon;
  if (hp[0] == '[') {
    char *rb = strchr(hp, ']');
    if (!rb) return KK_EPARSE;
    *rb = '\0';
    h = hp + 1;
    colon = rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = strrchr(hp, ':');
    if (colon) *colon = '\0';
  }
  if (colon) {
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p <= 0 || p > 65535) return KK_EPARSE;
    *port = (int)p;
  }
  size_t n = strlen(h);
  if (n == 0 || n >= hostlen) return KK_EPARSE;
  memcpy(host, h, n + 1);
  return 0;
}

uint64_t net_mqtt_backoff_ms(uint64_t min_ms, uint64_t max_ms,
                             unsigned attempts) {
  uint64_t d = min_ms ? min_ms : 1;
  for (unsigned i = 0; i < attempts && d < max_ms; i++)
    d *= 2;
  if (d > max_ms) d = max_ms;
  return d / 2 + (uint64_t)rand() % (d / 2 + 1);
}
