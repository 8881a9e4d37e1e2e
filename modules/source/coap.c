/*
 * modules/source/coap.c - source.coap: a CoAP server for devices, journaled.
 *
 * Devices POST or PUT readings to resource paths such as "/r/{thing}" on
 * UDP (coap://) or DTLS with pre-shared keys (coaps://).  Every accepted
 * request body becomes one raw message (format: the Content-Format number;
 * meta: {"path":..,"peer":..,"identity":..,"thing":..}, see
 * modules/source/source_payload.h) that kk_stage_ingest()
 * appends to the journal and decodes with source_payload_decode().  The
 * answer follows the append:
 *   2.04 Changed      journaled and decoded; payload "ok <journal seq>"
 *   4.00 Bad Request  journaled (for a fixed decoder and `klimakit replay`)
 *                     but not decodable; the payload says why
 *   4.04 Not Found    the path matches no pattern (not journaled)
 *   4.13 Too Large    body above max_size, with Size1 (not journaled)
 *   4.15 Unsupported  Content-Format missing or unknown (not journaled)
 *   5.00              the journal append failed: send again
 *   5.03 + Max-Age    the pipeline is paused (backpressure): send again
 * Block1 transfers are reassembled by libcoap (COAP_BLOCK_SINGLE_BODY), so
 * the handler sees one body.
 *
 * DTLS: identities and keys come from `psk_file`, never from the recipe;
 * an unknown identity or a wrong key fails the handshake.
 */
#include <klimakit.h>

#include <coap3/coap.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "net/net_coap.h"
#include "source/source_payload.h"

typedef struct coap_psk {
  coap_bin_const_t id;  /* id.s owned */
  coap_bin_const_t key; /* key.s owned */
} coap_psk_t;

typedef enum {
  COAP_R_NOT_FOUND,
  COAP_R_FORMAT,
  COAP_R_TOO_LARGE,
  COAP_R_JOURNAL,
  COAP_R_BUSY,
  COAP_R_PSK,
  COAP_R_STOPPING,
  COAP_R_N
} coap_reason_t;

static const char *const coap_reason_names[COAP_R_N] = {
    "not_found", "unsupported_format", "too_large", "journal",
    "busy",      "psk_identity",       "stopping"};

/* The peer text of a remote address, as coap_print_addr() writes it
 * ("127.0.0.1:40312", "[::1]:40312"): a small cache keyed by the address,
 * so that a device's requests do not format it again each time.  It is
 * a pure function of the address, so an entry is never stale. */
#define COAP_PEERS 64
typedef struct coap_peer {
  coap_address_t addr; /* addr.size 0: empty */
  char text[64];
} coap_peer_t;

typedef struct coap_src {
  kk_stage_t *st;
  net_coap_t loop;
  source_paths_t paths;
  size_t max_size;
  unsigned retry_after_s;
  coap_psk_t *psk;
  size_t npsk;
  int has_dtls;
  kk_stop_cb stop_cb;
  kk_ratelimit_t rl;
  kk_metric_t *rejected[COAP_R_N]; /* process-lived */
  kk_metric_t *m_ok, *m_bad, *m_drops;
  uv_timer_t drops_timer;
  int timer_open;
  int stopping;           /* requests still read get 5.03 with Max-Age */
  const char *listen[16]; /* borrowed from the opts */
  int ports[16];
  size_t nports;
  uint8_t nokey[32]; /* default key of the DTLS context: random, unused */
  uint64_t drops_base;
  int drops_seen;
  coap_peer_t peers[COAP_PEERS];
} coap_src_t;

/* ---- decode ---------------------------------------------------------- */

static int coap_decode(kk_stage_t *st, void *state, const kk_raw_t *raw,
                       kk_batch_t *out) {
  return source_payload_decode_stage(st, &((coap_src_t *)state)->paths, raw,
                                     out);
}

/* ---- key file -------------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads "identity key" lines; a key "hex:00ff.." or "0x00ff.." is hex,
 * anything else its text bytes.  '#' starts a comment line. */
static int coap_psk_load(coap_src_t *s, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    kk_stage_error(s->st, "psk_file '%s': %s", path, strerror(errno));
    return -errno;
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 0077))
    kk_stage_log(s->st, KK_LOG_WARN,
                 "psk_file '%s' is readable by group or others; chmod 600 it",
                 path);
  char line[1024];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    char *p = line, *id, *key;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '#' || *p == '\n' || *p == '\r' || !*p) continue;
    id = p;
    while (*p && *p != ' ' && *p != '\t')
      p++;
    if (*p) *p++ = '\0';
    while (*p == ' ' || *p == '\t')
      p++;
    key = p;
    size_t kl = strcspn(key, "\r\n");
    while (kl > 0 && (key[kl - 1] == ' ' || key[kl - 1] == '\t'))
      kl--;
    key[kl] = '\0';
    if (!*id || !*key) {
      kk_stage_error(s->st, "psk_file '%s' line %d: expected 'identity key'",
                     path, lineno);
      rc = KK_EPARSE;
      break;
    }
    uint8_t *kb;
    size_t kn;
    const char *hex = NULL;
    if (strncmp(key, "hex:", 4) == 0)
      hex = key + 4;
    else if (strncmp(key, "0x", 2) == 0)
      hex = key + 2;
    if (hex) {
      size_t hl = strlen(hex);
      if (hl == 0 || hl % 2) {
        kk_stage_error(s->st, "psk_file '%s' line %d: odd or empty hex key",
                       path, lineno);
        rc = KK_EPARSE;
        break;
      }
      kn = hl / 2;
      kb = malloc(kn);
      for (size_t i = 0; kb && i < kn; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
          free(kb);
          kb = NULL;
          kk_stage_error(s->st, "psk_file '%s' line %d: bad hex digit", path,
                         lineno);
          rc = KK_EPARSE;
        } else {
          kb[i] = (uint8_t)(hi << 4 | lo);
        }
      }
      if (rc) break;
    } else {
      kn = strlen(key);
      kb = malloc(kn);
      if (kb) memcpy(kb, key, kn);
    }
    coap_psk_t *np = realloc(s->psk, (s->npsk + 1) * sizeof *np);
    char *ids = strdup(id);
    if (!kb || !np || !ids) {
      free(kb);
      free(ids);
      if (np) s->psk = np;
      kk_stage_error(s->st, "out of memory");
      rc = KK_ENOMEM;
      break;
    }
    s->psk = np;
    s->psk[s->npsk].id = (coap_bin_const_t){strlen(ids), (uint8_t *)ids};
    s->psk[s->npsk].key = (coap_bin_const_t){kn, kb};
    s->npsk++;
  }
  fclose(f);
  if (rc == 0 && s->npsk == 0) {
    kk_stage_error(s->st, "psk_file '%s' holds no 'identity key' line", path);
    rc = KK_EMISSING;
  }
  return rc;
}

static const coap_bin_const_t *coap_psk_lookup(coap_bin_const_t *identity,
                                               coap_session_t *session,
                                               void *arg) {
  (void)session;
  coap_src_t *s = arg;
  for (size_t i = 0; i < s->npsk; i++)
    if (s->psk[i].id.length == identity->length &&
        memcmp(s->psk[i].id.s, identity->s, identity->length) == 0)
      return &s->psk[i].key;
  kk_metric_add(s->rejected[COAP_R_PSK], 1);
  if (kk_ratelimit_ok(&s->rl))
    kk_stage_log(s->st, KK_LOG_WARN, "DTLS: unknown PSK identity '%.*s'",
                 (int)(identity->length > 64 ? 64 : identity->length),
                 (const char *)identity->s);
  return NULL;
}

/* ---- requests -------------------------------------------------------- */

static void coap_answer(coap_pdu_t *resp, coap_pdu_code_t code,
                        const char *text, size_t len) {
  coap_pdu_set_code(resp, code);
  if (len) {
    uint8_t b[4];
    coap_add_option(
        resp, COAP_OPTION_CONTENT_FORMAT,
        coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_TEXT_PLAIN), b);
    coap_add_data(resp, len, (const uint8_t *)text);
  }
}

static void coap_answer_str(coap_pdu_t *resp, coap_pdu_code_t code,
                            const char *text) {
  coap_answer(resp, code, text, text ? strlen(text) : 0);
}

static void coap_reject(coap_src_t *s, coap_reason_t r, const char *peer,
                        const char *path, const char *why) {
  kk_metric_add(s->rejected[r], 1);
  if (r != COAP_R_BUSY && r != COAP_R_STOPPING && kk_ratelimit_ok(&s->rl))
    kk_stage_log(s->st, KK_LOG_WARN, "%s %s: %s", peer, path, why);
}

/* Same address (family, port, address; IPv6 also the scope)? */
static int coap_addr_same(const coap_address_t *a, const coap_address_t *b) {
  if (a->size != b->size || a->addr.sa.sa_family != b->addr.sa.sa_family)
    return 0;
  if (a->addr.sa.sa_family == AF_INET)
    return a->addr.sin.sin_port == b->addr.sin.sin_port &&
           a->addr.sin.sin_addr.s_addr == b->addr.sin.sin_addr.s_addr;
  if (a->addr.sa.sa_family == AF_INET6)
    return a->addr.sin6.sin6_port == b->addr.sin6.sin6_port &&
           a->addr.sin6.sin6_scope_id == b->addr.sin6.sin6_scope_id &&
           memcmp(&a->addr.sin6.sin6_addr, &b->addr.sin6.sin6_addr, 16) == 0;
  return 0;
}

static const char *coap_peer_text(coap_src_t *s, const coap_address_t *a) {
  if (!a) return "?";
  uint32_t h;
  if (a->addr.sa.sa_family == AF_INET) {
    h = a->addr.sin.sin_addr.s_addr ^ a->addr.sin.sin_port;
  } else if (a->addr.sa.sa_family == AF_INET6) {
    const uint8_t *x = a->addr.sin6.sin6_addr.s6_addr;
    h = a->addr.sin6.sin6_port;
    for (int i = 0; i < 16; i++)
      h = h * 31 + x[i];
  } else {
    return "?";
  }
  h ^= h >> 16;
  h *= 0x45d9f3bu;
  h ^= h >> 16;
  coap_peer_t *e = &s->peers[h % COAP_PEERS];
  if (!coap_addr_same(&e->addr, a)) {
    e->text[0] = '\0';
    if (!coap_print_addr(a, (uint8_t *)e->text, sizeof e->text - 1) ||
        !e->text[0])
      snprintf(e->text, sizeof e->text, "?");
    e->addr = *a;
  }
  return e->text;
}

/* What coap_get_uri_path() allows unescaped in a path segment. */
static int coap_path_plain(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '!' || c == '$' || c == '\'' || c == '(' ||
         c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=' ||
         c == ':' || c == '@' || c == '&';
}

/* One pass over the request's options: the path "/seg/seg" into `path`
 * exactly as "/" + coap_get_uri_path() (segments percent-encoded the same
 * way, truncated to the buffer), and the Content-Format into *format
 * (*has_format 0 when there is none).  A Proxy-Uri (not what a device
 * sends us, but libcoap takes its path) falls back to coap_get_uri_path. */
static void coap_request_options(const coap_pdu_t *req, char *path, size_t cap,
                                 unsigned *format, int *has_format) {
  static const char hex[] = "0123456789ABCDEF";
  coap_opt_iterator_t oi;
  coap_opt_t *o;
  size_t n = 0;
  int segs = 0, proxy = 0;
  *has_format = 0;
  *format = 0;
  path[n++] = '/';
  coap_option_iterator_init(req, &oi, COAP_OPT_ALL);
  while ((o = coap_option_next(&oi))) {
    if (oi.number == COAP_OPTION_URI_PATH) {
      const uint8_t *v = coap_opt_value(o);
      uint32_t l = coap_opt_length(o);
      if (segs++ && n + 1 < cap) path[n++] = '/';
      for (uint32_t i = 0; i < l && n + 3 < cap; i++) {
        if (coap_path_plain(v[i])) {
          path[n++] = (char)v[i];
        } else {
          path[n++] = '%';
          path[n++] = hex[v[i] >> 4];
          path[n++] = hex[v[i] & 15];
        }
      }
    } else if (oi.number == COAP_OPTION_CONTENT_FORMAT && !*has_format) {
      *has_format = 1;
      *format = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
    } else if (oi.number == COAP_OPTION_PROXY_URI) {
      proxy = 1;
    }
  }
  path[n] = '\0';
  if (proxy) {
    coap_string_t *up = coap_get_uri_path(req);
    snprintf(path, cap, "/%.*s", up ? (int)up->length : 0,
             up ? (const char *)up->s : "");
    coap_delete_string(up);
  }
}

/* "ok <seq>" into buf (32 bytes); returns its length. */
static size_t coap_ok_text(char *buf, uint64_t seq) {
  char d[24];
  size_t k = 0, n = 3;
  do {
    d[k++] = (char)('0' + seq % 10);
    seq /= 10;
  } while (seq);
  memcpy(buf, "ok ", 3);
  while (k)
    buf[n++] = d[--k];
  buf[n] = '\0';
  return n;
}

static void coap_handler(coap_resource_t *res, coap_session_t *session,
                         const coap_pdu_t *req, const coap_string_t *query,
                         coap_pdu_t *resp) {
  (void)res;
  (void)query;
  coap_src_t *s = coap_get_app_data(coap_session_get_context(session));
  char path[256], meta[768], why[300];
  char thing[COAP_PAYLOAD_NAME_MAX], prop[COAP_PAYLOAD_NAME_MAX];
  const char *peer = coap_peer_text(s, coap_session_get_addr_remote(session));
  unsigned format;
  int has_format;
  coap_request_options(req, path, sizeof path, &format, &has_format);

  if (source_paths_match(&s->paths, path, thing, prop) < 0) {
    coap_reject(s, COAP_R_NOT_FOUND, peer, path, "no such resource");
    coap_answer_str(resp, COAP_RESPONSE_CODE_NOT_FOUND, "no such resource");
    return;
  }
  if (!has_format) {
    coap_reject(s, COAP_R_FORMAT, peer, path, "no Content-Format");
    coap_answer_str(resp, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
                    "Content-Format missing: use 110, 112, 50, 60 or 0");
    return;
  }
  if (!source_payload_format_ok(format)) {
    snprintf(why, sizeof why,
             "Content-Format %u not supported: use 110, 112, 50, 60 or 0",
             format);
    coap_reject(s, COAP_R_FORMAT, peer, path, why);
    coap_answer_str(resp, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT, why);
    return;
  }
  size_t len = 0, offset = 0, total = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data_large(req, &len, &data, &offset, &total)) {
    len = total = 0;
    data = (const uint8_t *)"";
  }
  if (total > s->max_size || len > s->max_size) {
    uint8_t b[8];
    snprintf(why, sizeof why, "body of %zu bytes is above max_size %zu",
             total > len ? total : len, s->max_size);
    coap_reject(s, COAP_R_TOO_LARGE, peer, path, why);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE);
    coap_add_option(resp, COAP_OPTION_SIZE1,
                    coap_encode_var_safe(b, sizeof b, (unsigned)s->max_size),
                    b);
    coap_add_data(resp, strlen(why), (const uint8_t *)why);
    return;
  }
  if (kk_stage_paused(s->st) || s->stopping) {
    uint8_t b[8];
    coap_reject(s, s->stopping ? COAP_R_STOPPING : COAP_R_BUSY, peer, path,
                "paused");
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE);
    coap_add_option(resp, COAP_OPTION_MAXAGE,
                    coap_encode_var_safe(b, sizeof b, s->retry_after_s), b);
    const char *why = s->stopping ? "stopping: try again later" : "busy";
    coap_add_data(resp, strlen(why), (const uint8_t *)why);
    return;
  }
  char ident[130] = "";
  if (s->has_dtls) {
    const coap_bin_const_t *id = coap_session_get_psk_identity(session);
    if (id && id->length)
      snprintf(ident, sizeof ident, "%.*s",
               (int)(id->length > 128 ? 128 : id->length), (const char *)id->s);
  }
  source_payload_meta(meta, sizeof meta, path, peer, ident, thing, prop);

  kk_batch_t *b = kk_batch_new(8);
  int status = 0, rc = b ? 0 : KK_ENOMEM;
  if (rc == 0)
    rc = kk_batch_push_raw(b, 0, kk_now_ms(), format, meta, data, len);
  if (rc == 0) rc = kk_stage_ingest(s->st, b, &status);
  uint64_t seq = rc == 0 ? kk_batch_raw(b, 0)->seq : 0;
  kk_batch_unref(b);
  if (rc != 0) {
    snprintf(why, sizeof why, "journal: %s; send again", kk_strerror(rc));
    coap_reject(s, COAP_R_JOURNAL, peer, path, why);
    coap_answer_str(resp, COAP_RESPONSE_CODE_INTERNAL_ERROR, why);
    return;
  }
  if (status < 0) {
    /* Journaled; the core counted and logged the rejection. */
    const char *e = kk_stage_last_error(s->st);
    kk_metric_add(s->m_bad, 1);
    coap_answer_str(resp, COAP_RESPONSE_CODE_BAD_REQUEST,
                    e && *e ? e : kk_strerror(status));
    return;
  }
  kk_metric_add(s->m_ok, 1);
  coap_answer(resp, COAP_RESPONSE_CODE_CHANGED, why, coap_ok_text(why, seq));
}

/* ---- UDP drops (SO_RCVBUF overflow), from /proc/net/udp{,6} ---------- */

static uint64_t coap_scan_drops(coap_src_t *s, const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) return 0;
  char line[512];
  uint64_t sum = 0;
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    colon = strchr(colon + 1, ':'); /* local address "ADDR:PORT" */
    if (!colon) continue;
    unsigned port = (unsigned)strtoul(colon + 1, NULL, 16);
    size_t i;
    for (i = 0; i < s->nports; i++)
      if ((unsigned)s->ports[i] == port) break;
    if (i == s->nports) continue;
    char *last = strrchr(line, ' ');
    if (last) sum += strtoull(last + 1, NULL, 10);
  }
  fclose(f);
  return sum;
}

static void coap_drops_tick(uv_timer_t *t) {
  coap_src_t *s = t->data;
  uint64_t d = coap_scan_drops(s, "/proc/net/udp") +
               coap_scan_drops(s, "/proc/net/udp6");
  if (!s->drops_seen) {
    s->drops_seen = 1;
    s->drops_base = d;
  }
  kk_metric_set(s->m_drops, (int64_t)(d - s->drops_base));
}

/* ---- listen addresses ------------------------------------------------ */

/* "host:port", "coap://host:port", "coaps://host:port", "[v6]:port". */
static int coap_parse_listen(const char *spec, coap_address_t *a, int *dtls,
                             int *port_out) {
  char host[80];
  *dtls = 0;
  if (strncmp(spec, "coaps://", 8) == 0) {
    *dtls = 1;
    spec += 8;
  } else if (strncmp(spec, "coap://", 7) == 0) {
    spec += 7;
  }
  const char *colon = strrchr(spec, ':');
  if (!colon || colon - spec >= (long)sizeof host) return KK_EPARSE;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || (*end && *end != '/') || port < 1 || port > 65535)
    return KK_EPARSE;
  size_t hl = (size_t)(colon - spec);
  coap_address_init(a);
  *port_out = (int)port;
  if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
    memcpy(host, spec + 1, hl - 2);
    host[hl - 2] = '\0';
    if (uv_ip6_addr(host, (int)port, &a->addr.sin6)) return KK_EPARSE;
    a->size = sizeof a->addr.sin6;
    return 0;
  }
  memcpy(host, spec, hl);
  host[hl] = '\0';
  if (hl == 0) snprintf(host, sizeof host, "0.0.0.0");
  if (uv_ip4_addr(host, (int)port, &a->addr.sin)) return KK_EPARSE;
  a->size = sizeof a->addr.sin;
  return 0;
}

/* ---- module callbacks ------------------------------------------------ */

static int coap_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  coap_src_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 10);
  s->max_size = (size_t)kk_opt_size(opts, "max_size");
  s->retry_after_s =
      (unsigned)((kk_opt_duration_ms(opts, "retry_after") + 999) / 1000);
  if (s->retry_after_s == 0) s->retry_after_s = 1;
  size_t np = kk_opt_list_len(opts, "paths");
  const char *pats[64];
  if (np == 0 || np > 64) {
    kk_stage_error(st, "paths: give 1 to 64 path patterns");
    return KK_EINVAL;
  }
  for (size_t i = 0; i < np; i++)
    pats[i] = kk_opt_list_item(opts, "paths", i);
  char why[200];
  int rc = source_paths_init(&s->paths, pats, np, why, sizeof why);
  if (rc) {
    kk_stage_error(st, "paths: %s", why);
    return rc;
  }
  s->paths.senml_names = kk_opt_enum(opts, "senml_names");
  size_t nl = kk_opt_list_len(opts, "listen");
  if (nl == 0 || nl > 16) {
    kk_stage_error(st, "listen: give 1 to 16 endpoints");
    return KK_EINVAL;
  }
  for (size_t i = 0; i < nl; i++) {
    coap_address_t a;
    int dtls, port;
    const char *l = kk_opt_list_item(opts, "listen", i);
    if (coap_parse_listen(l, &a, &dtls, &port)) {
      kk_stage_error(st,
                     "listen '%s' is not [coap://|coaps://]host:port "
                     "(127.0.0.1:5683, coaps://127.0.0.1:5684, [::1]:5683)",
                     l);
      return KK_EINVAL;
    }
    s->has_dtls |= dtls;
    s->listen[s->nports] = l;
    s->ports[s->nports++] = port;
  }
  if (s->has_dtls) {
    if (!kk_opt_isset(opts, "psk_file")) {
      kk_stage_error(st, "a coaps:// endpoint needs psk_file (lines "
                         "'identity key'); keys never go in the recipe");
      return KK_EMISSING;
    }
    if ((rc = coap_psk_load(s, kk_opt_str(opts, "psk_file"))) != 0) return rc;
  }
  for (int i = 0; i < COAP_R_N; i++)
    s->rejected[i] =
        kk_stage_counter(st, "kk_rejected_total", coap_reason_names[i],
                         "Input records rejected, by reason.");
  s->m_ok = kk_stage_counter(st, "kk_coap_requests_total", "changed",
                             "CoAP requests answered, by outcome.");
  s->m_bad = kk_stage_counter(st, "kk_coap_requests_total", "bad_request",
                              "CoAP requests answered, by outcome.");
  s->m_drops = kk_gauge("kk_coap_udp_drops", NULL,
                        "Datagrams the kernel dropped on the CoAP sockets "
                        "since start (receive buffer full; see "
                        "net.core.rmem_default).");
  return 0;
}

static void coap_start_failed(void *arg) {
  (void)arg;
}

static int coap_start(kk_stage_t *st, void *state) {
  coap_src_t *s = state;
  net_coap_global_init();
  coap_context_t *ctx = coap_new_context(NULL);
  if (!ctx) {
    kk_stage_error(st, "cannot create a CoAP context");
    return KK_ENOMEM;
  }
  coap_set_app_data(ctx, s);
  coap_context_set_block_mode(ctx,
                              COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  s->loop.ctx = ctx; /* freed by net_coap_close() from here on */
  int rc = 0;
  if (s->has_dtls) {
    if (!coap_dtls_is_supported()) {
      kk_stage_error(st, "this libcoap has no DTLS support");
      rc = KK_EINVAL;
      goto fail;
    }
    coap_dtls_spsk_t sp;
    memset(&sp, 0, sizeof sp);
    sp.version = COAP_DTLS_SPSK_SETUP_VERSION;
    sp.validate_id_call_back = coap_psk_lookup;
    sp.id_call_back_arg = s;
    sp.psk_info.hint.s = (const uint8_t *)"klimakit";
    sp.psk_info.hint.length = 8;
    /* Identities without an entry are refused by the callback; the
     * context's default key is random so that it can never match. */
    uv_random(NULL, NULL, s->nokey, sizeof s->nokey, 0, NULL);
    sp.psk_info.key.s = s->nokey;
    sp.psk_info.key.length = sizeof s->nokey;
    if (!coap_context_set_psk2(ctx, &sp)) {
      kk_stage_error(st, "cannot set up DTLS PSK");
      rc = KK_EINVAL;
      goto fail;
    }
  }
  for (size_t i = 0; i < s->nports; i++) {
    coap_address_t a;
    int dtls, port;
    coap_parse_listen(s->listen[i], &a, &dtls, &port); /* checked in create */
    if (!coap_new_endpoint(ctx, &a, dtls ? COAP_PROTO_DTLS : COAP_PROTO_UDP)) {
      kk_stage_error(st, "cannot listen on %s (address in use?)", s->listen[i]);
      rc = KK_EBUSY;
      goto fail;
    }
  }
  coap_resource_t *r = coap_resource_unknown_init2(coap_handler, 0);
  if (!r) {
    kk_stage_error(st, "out of memory");
    rc = KK_ENOMEM;
    goto fail;
  }
  coap_register_handler(r, COAP_REQUEST_POST, coap_handler);
  coap_add_resource(ctx, r);
  if ((rc = net_coap_start(&s->loop, kk_stage_loop(st), ctx)) != 0) {
    kk_stage_error(st, "cannot watch the CoAP descriptor: %s", uv_strerror(rc));
    goto fail;
  }
  if (uv_timer_init(kk_stage_loop(st), &s->drops_timer) == 0) {
    s->drops_timer.data = s;
    s->timer_open = 1;
    uv_timer_start(&s->drops_timer, coap_drops_tick, 0, 5000);
  }
  for (size_t i = 0; i < s->nports; i++)
    kk_stage_log(st, KK_LOG_INFO,
                 "listening on %s (%zu path patterns, max "
                 "%zu bytes)",
                 s->listen[i], s->paths.n, s->max_size);
  return 0;
fail:
  net_coap_close(&s->loop, coap_start_failed, s);
  return rc;
}

static void coap_closed_one(coap_src_t *s) {
  if (s->timer_open || s->loop.ctx) return;
  if (s->stop_cb) {
    kk_stop_cb cb = s->stop_cb;
    s->stop_cb = NULL;
    cb(s->st);
  }
}

static void net_coap_closed_cb(void *arg) {
  coap_src_t *s = arg;
  s->loop.ctx = NULL;
  coap_closed_one(s);
}

static void coap_timer_closed_cb(uv_handle_t *h) {
  coap_src_t *s = h->data;
  s->timer_open = 0;
  coap_closed_one(s);
}

static void coap_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  coap_src_t *s = state;
  s->stop_cb = cb;
  if (!s->timer_open && !s->loop.ctx) {
    s->stop_cb = NULL;
    cb(st);
    return;
  }
  if (s->timer_open) {
    uv_timer_stop(&s->drops_timer);
    uv_close((uv_handle_t *)&s->drops_timer, coap_timer_closed_cb);
  }
  if (s->loop.ctx) {
    /* Datagrams already in the socket's buffer get 5.03 with Max-Age
     * rather than no answer at all, so their senders retry later. */
    s->stopping = 1;
    net_coap_drain(&s->loop, 256);
    net_coap_close(&s->loop, net_coap_closed_cb, s);
  }
}

static void coap_destroy(void *state) {
  coap_src_t *s = state;
  if (!s) return;
  source_paths_free(&s->paths);
  for (size_t i = 0; i < s->npsk; i++) {
    free((void *)s->psk[i].id.s);
    free((void *)s->psk[i].key.s);
  }
  free(s->psk);
  free(s);
}

static const kk_option_t coap_options[] = {
    {.name = "listen",
     .type = KK_OPT_LIST,
     .def = "127.0.0.1:5683",
     .description = "Endpoints: host:port or coap://host:port for UDP, "
                    "coaps://host:port for DTLS with pre-shared keys "
                    "(needs psk_file); [v6]:port for IPv6."},
    {.name = "paths",
     .type = KK_OPT_LIST,
     .def = "/r/{thing}",
     .description = "Resource path patterns devices POST or PUT to; a "
                    "segment {thing} or {property} names that part of the "
                    "reading, other segments match literally. Other paths "
                    "get 4.04."},
    SOURCE_PAYLOAD_SENML_OPTION,
    {.name = "max_size",
     .type = KK_OPT_SIZE,
     .def = "64KiB",
     .description = "Largest accepted body (after Block1 reassembly); a "
                    "larger one gets 4.13 with Size1."},
    {.name = "retry_after",
     .type = KK_OPT_DURATION,
     .def = "2s",
     .description = "Max-Age of the 5.03 answer while the pipeline is "
                    "paused (backpressure): when the device should retry."},
    {.name = "psk_file",
     .type = KK_OPT_STRING,
     .description = "DTLS key file for coaps:// endpoints: one 'identity "
                    "key' per line, key as text or hex:00ff.. ('#' "
                    "comments). Unknown identities and wrong keys fail the "
                    "handshake."},
    {NULL}};

const kk_module_t source_coap_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "coap",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "CoAP server for devices (UDP and DTLS-PSK), journaled.",
    .description =
        "Devices POST or PUT readings to resource paths such as "
        "`/r/{thing}`, as SenML JSON (Content-Format 110) or CBOR (112), "
        "JSON readings (50), CBOR readings (60) or text/plain (0, "
        "`[property=]value[ unit]`).  Each body is appended to the journal "
        "before the answer: 2.04 once journaled and decoded; 4.00 with the "
        "reason as payload when it does not decode (it stays journaled for "
        "`klimakit replay`); 4.04 unknown path; 4.13 above `max_size`; "
        "4.15 unknown or missing Content-Format; 5.03 with Max-Age while "
        "the pipeline is paused; 5.00 when the journal fails.  Block1 "
        "transfers are reassembled.  coaps:// endpoints use DTLS with "
        "per-device pre-shared keys from `psk_file`.  See docs/guide/coap.md.",
    .options = coap_options,
    .create = coap_create,
    .start = coap_start,
    .decode = coap_decode,
    .stop = coap_stop,
    .destroy = coap_destroy,
};
