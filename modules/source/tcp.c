/*
 * modules/source/tcp.c - source.tcp: JSON readings over TCP, journaled.
 *
 * A line protocol for gateways and scripts: a client connects, sends one
 * JSON reading per line (the shape of source.file's JSON lines) and gets
 * one answer line per input line, in order:
 *   ok <seq>\n          stored in the journal under sequence number seq
 *   error <reason>\n    not accepted (malformed, too long, journal down)
 * Blank lines are ignored and not answered.
 *
 * Every read buffer becomes one batch of raw messages (format 50,
 * application/json; meta: the peer address) that kk_stage_ingest()
 * appends to the journal and decodes with tcp_decode().  Only after the
 * append succeeded does the client get "ok": an acknowledged line survives
 * a crash.  A line the decoder rejects is journaled too (the raw message
 * is kept for a fixed decoder and `klimakit replay`) but answered with the
 * reason.
 *
 * Backpressure: while the core has sources paused, no connection is read
 * (the kernel's socket buffers fill and TCP flow control slows the
 * clients).  Answers a client has not read yet (past what its socket
 * buffer holds) wait in memory, bounded twice: a client is not read any
 * more once TCP_CONN_QUEUED of its answers wait, and while all clients'
 * waiting answers exceed TCP_TOTAL_QUEUED, no client with answers waiting
 * is read; reading resumes below half of each bound.  So clients that
 * never read cost at most TCP_TOTAL_QUEUED (plus one read buffer's answers
 * each), however many connect (gauges kk_tcp_answers_queued_bytes and
 * kk_tcp_blocked_connections).
 */
#include <klimakit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TCP_FORMAT_JSON 50 /* CoAP content format application/json */
#define TCP_READ_BUF 65536
#define TCP_CONN_QUEUED (128u << 10) /* one client's unread answers */
#define TCP_TOTAL_QUEUED (8u << 20)  /* all clients' unread answers */

typedef struct tcp_state tcp_state_t;

typedef struct tcp_conn {
  uv_tcp_t h; /* h.data = this */
  tcp_state_t *s;
  struct tcp_conn *prev, *next;
  char peer[64];
  char *carry; /* owned: the unfinished line of the last read */
  size_t carry_len, carry_cap;
  int discarding; /* dropping the rest of a line that was too long */
  int reading, write_blocked, closing, eof;
  size_t queued; /* bytes of answers written but not yet completed */
  uv_shutdown_t shutdown;
} tcp_conn_t;

/* One answer buffer in flight; freed in the write callback. */
typedef struct tcp_write {
  uv_write_t req;
  tcp_conn_t *c;
  size_t len;
  char data[];
} tcp_write_t;

/* Per read buffer: what each input line became, in order. */
typedef enum { TCP_ITEM_RAW, TCP_ITEM_TOO_LONG } tcp_item_kind_t;

/* A decode failure seen during our own kk_stage_ingest() call; the core
 * keeps only the last message, we want one per line. */
typedef struct tcp_reason {
  uint64_t seq;
  char msg[160];
} tcp_reason_t;

struct tcp_state {
  kk_stage_t *st;
  const char *listen; /* borrowed from the opts */
  size_t max_line;
  uv_tcp_t server;
  int server_open;
  tcp_conn_t *conns; /* list of open connections */
  size_t nhandles;   /* server + connections not yet closed */
  int paused, stopping;
  kk_stop_cb stop_cb;
  char rbuf[TCP_READ_BUF]; /* reads are handled at once: one buffer */
  tcp_item_kind_t *items;  /* owned scratch, per read */
  size_t nitems, items_cap;
  int *status; /* owned scratch */
  size_t status_cap;
  tcp_reason_t *reasons; /* owned scratch */
  size_t nreasons, reasons_cap;
  int in_ingest;
  kk_metric_t *too_long, *journal_fail, *conns_total; /* process-lived */
  size_t queued;  /* all connections' tcp_conn_t.queued */
  size_t blocked; /* connections not read because of their answers */
  kk_metric_t *m_queued, *m_blocked;
};

/* ---- decode ---------------------------------------------------------- */

/* Called by the core for every raw message, live (inside our ingest) and
 * again on replay after a restart: depends only on the message. */
static int tcp_decode(kk_stage_t *st, void *state, const kk_raw_t *raw,
                      kk_batch_t *out) {
  tcp_state_t *s = state;
  kk_reading_t r;
  char why[160];
  int rc = kk_reading_parse_json((const char *)raw->data, raw->len, &r, why,
                                 sizeof why);
  if (rc == 0 && (rc = kk_batch_push(out, &r)) != 0)
    snprintf(why, sizeof why, "out of memory");
  if (rc == 0) return 0;
  kk_stage_error(st, "%s", why);
  if (s->in_ingest) {
    if (s->nreasons == s->reasons_cap) {
      size_t ncap = s->reasons_cap ? s->reasons_cap * 2 : 16;
      tcp_reason_t *nr = realloc(s->reasons, ncap * sizeof *nr);
      if (!nr) return rc;
      s->reasons = nr;
      s->reasons_cap = ncap;
    }
    tcp_reason_t *e = &s->reasons[s->nreasons++];
    e->seq = raw->seq;
    snprintf(e->msg, sizeof e->msg, "%s", why);
  }
  return rc;
}

/* ---- connections ----------------------------------------------------- */

static void tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void tcp_read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

static void tcp_handle_closed(tcp_state_t *s) {
  if (--s->nhandles == 0 && s->stopping && s->stop_cb) s->stop_cb(s->st);
}

static void tcp_conn_close_cb(uv_handle_t *h) {
  tcp_conn_t *c = h->data;
  tcp_state_t *s = c->s;
  free(c->carry);
  free(c);
  tcp_handle_closed(s);
}

static void tcp_conn_close(tcp_conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  tcp_state_t *s = c->s;
  if (c->write_blocked) {
    c->write_blocked = 0;
    s->blocked--;
    kk_metric_set(s->m_blocked, (int64_t)s->blocked);
  }
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->h, tcp_conn_close_cb);
}

/* Whether the answers waiting for c stop it being read. */
static int tcp_conn_backlogged(const tcp_conn_t *c) {
  const tcp_state_t *s = c->s;
  if (c->write_blocked) /* hysteresis: resume below half of the bounds */
    return c->queued > TCP_CONN_QUEUED / 2 ||
           (c->queued && s->queued > TCP_TOTAL_QUEUED / 2);
  return c->queued > TCP_CONN_QUEUED ||
         (c->queued && s->queued > TCP_TOTAL_QUEUED);
}

/* Starts or stops reading as pause, answer backlog and closing allow. */
static void tcp_conn_update(tcp_conn_t *c) {
  tcp_state_t *s = c->s;
  int blocked = !c->closing && tcp_conn_backlogged(c);
  if (blocked != c->write_blocked) {
    c->write_blocked = blocked;
    s->blocked += blocked ? 1 : (size_t)-1;
    kk_metric_set(s->m_blocked, (int64_t)s->blocked);
  }
  int want = !c->closing && !c->eof && !c->s->paused && !c->s->stopping &&
             !c->write_blocked;
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->h, tcp_alloc_cb, tcp_read_cb) == 0)
      c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->h);
    c->reading = 0;
  }
}

static void tcp_queued_add(tcp_conn_t *c, size_t n, int add) {
  tcp_state_t *s = c->s;
  size_t before = s->queued;
  c->queued = add ? c->queued + n : c->queued - n;
  s->queued = add ? s->queued + n : s->queued - n;
  kk_metric_set(s->m_queued, (int64_t)s->queued);
  if (!add && s->blocked && before > TCP_TOTAL_QUEUED / 2 &&
      s->queued <= TCP_TOTAL_QUEUED / 2) {
    /* Below the total's low mark: the clients it held are read again. */
    for (tcp_conn_t *o = s->conns; o; o = o->next)
      if (o->write_blocked) tcp_conn_update(o);
  } else {
    tcp_conn_update(c);
  }
}

static void tcp_write_cb(uv_write_t *req, int status) {
  tcp_write_t *w = req->data;
  tcp_conn_t *c = w->c;
  size_t len = w->len;
  free(w);
  if (status < 0) {
    c->queued -= len; /* the connection is going: no resuming */
    c->s->queued -= len;
    kk_metric_set(c->s->m_queued, (int64_t)c->s->queued);
    if (status != UV_ECANCELED) tcp_conn_close(c);
    return;
  }
  tcp_queued_add(c, len, 0);
}

/* Queues an answer; the buffer is freed in the write callback. */
static void tcp_send(tcp_conn_t *c, tcp_write_t *w) {
  if (c->closing || w->len == 0) {
    free(w);
    return;
  }
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
  w->c = c;
  w->req.data = w;
  if (uv_write(&w->req, (uv_stream_t *)&c->h, &buf, 1, tcp_write_cb) != 0) {
    free(w);
    tcp_conn_close(c);
    return;
  }
  tcp_queued_add(c, w->len, 1);
}

static int tcp_item(tcp_state_t *s, tcp_item_kind_t k) {
  if (s->nitems == s->items_cap) {
    size_t ncap = s->items_cap ? s->items_cap * 2 : 256;
    tcp_item_kind_t *ni = realloc(s->items, ncap * sizeof *ni);
    if (!ni) return KK_ENOMEM;
    s->items = ni;
    s->items_cap = ncap;
  }
  s->items[s->nitems++] = k;
  return 0;
}

/* Adds one complete line (without its newline) to the batch. */
static int tcp_line(tcp_conn_t *c, kk_batch_t *b, const char *p, size_t n,
                    int64_t now) {
  tcp_state_t *s = c->s;
  if (n > 0 && p[n - 1] == '\r') n--;
  size_t k = 0;
  while (k < n && (p[k] == ' ' || p[k] == '\t'))
    k++;
  if (k == n) return 0; /* blank line: no answer */
  if (n > s->max_line) {
    kk_metric_add(s->too_long, 1);
    return tcp_item(s, TCP_ITEM_TOO_LONG);
  }
  int rc = kk_batch_push_raw(b, 0, now, TCP_FORMAT_JSON, c->peer, p, n);
  return rc ? rc : tcp_item(s, TCP_ITEM_RAW);
}

static int tcp_carry_add(tcp_conn_t *c, const char *p, size_t n) {
  if (c->carry_len + n > c->carry_cap) {
    size_t ncap = c->carry_cap ? c->carry_cap : 1024;
    while (ncap < c->carry_len + n)
      ncap *= 2;
    char *nc = realloc(c->carry, ncap);
    if (!nc) return KK_ENOMEM;
    c->carry = nc;
    c->carry_cap = ncap;
  }
  memcpy(c->carry + c->carry_len, p, n);
  c->carry_len += n;
  return 0;
}

/* Splits the bytes into lines; the unfinished rest stays in c->carry. */
static int tcp_split(tcp_conn_t *c, kk_batch_t *b, const char *p, size_t n,
                     int64_t now) {
  tcp_state_t *s = c->s;
  int rc = 0;
  while (n > 0 && rc == 0) {
    const char *nl = memchr(p, '\n', n);
    size_t seg = nl ? (size_t)(nl - p) : n;
    if (c->discarding) {
      if (nl) c->discarding = 0;
    } else if (c->carry_len + seg > s->max_line + 1) {
      /* +1: a CR before the newline does not count. */
      kk_metric_add(s->too_long, 1);
      rc = tcp_item(s, TCP_ITEM_TOO_LONG);
      c->carry_len = 0;
      c->discarding = nl == NULL;
    } else if (!nl) {
      rc = tcp_carry_add(c, p, seg);
    } else if (c->carry_len) {
      rc = tcp_carry_add(c, p, seg);
      if (rc == 0) rc = tcp_line(c, b, c->carry, c->carry_len, now);
      c->carry_len = 0;
    } else {
      rc = tcp_line(c, b, p, seg, now);
    }
    if (!nl) break;
    p = nl + 1;
    n -= seg + 1;
  }
  /* Give back the memory of an unusually long line. */
  if (c->carry_len == 0 && c->carry_cap > 65536) {
    free(c->carry);
    c->carry = NULL;
    c->carry_cap = 0;
  }
  return rc;
}

/* Journals the lines of one read and answers each of them. */
static void tcp_commit(tcp_conn_t *c, kk_batch_t *b) {
  tcp_state_t *s = c->s;
  size_t nraw = kk_batch_raw_len(b);
  if (s->nitems == 0) return;
  int rc = 0;
  if (nraw > 0) {
    if (nraw > s->status_cap) {
      int *ns = realloc(s->status, nraw * sizeof *ns);
      if (!ns)
        rc = KK_ENOMEM;
      else {
        s->status = ns;
        s->status_cap = nraw;
      }
    }
    if (rc == 0) {
      s->nreasons = 0;
      s->in_ingest = 1;
      rc = kk_stage_ingest(s->st, b, s->status);
      s->in_ingest = 0;
    }
    if (rc != 0) kk_metric_add(s->journal_fail, (int64_t)nraw);
  }
  /* One answer line each; reasons are at most ~170 bytes. */
  size_t cap = s->nitems * 200 + 64;
  tcp_write_t *w = malloc(sizeof *w + cap);
  if (!w) {
    tcp_conn_close(c); /* cannot answer: the client must retry */
    return;
  }
  w->len = 0;
  size_t ri = 0, fi = 0;
  const char *jerr = rc ? kk_strerror(rc) : NULL;
  for (size_t i = 0; i < s->nitems; i++) {
    char *o = w->data + w->len;
    size_t room = cap - w->len;
    int k;
    if (s->items[i] == TCP_ITEM_TOO_LONG) {
      k = snprintf(o, room, "error line too long (max %zu bytes)\n",
                   s->max_line);
    } else if (jerr) {
      k = snprintf(o, room, "error journal: %s\n", jerr);
      ri++;
    } else {
      const kk_raw_t *raw = kk_batch_raw(b, ri);
      uint64_t seq = raw->seq;
      int st = s->status[ri++];
      if (st >= 0) {
        k = snprintf(o, room, "ok %llu\n", (unsigned long long)seq);
      } else {
        /* The k-th failure has the k-th recorded reason. */
        const char *why = NULL;
        if (fi < s->nreasons && (s->reasons[fi].seq == seq || seq == 0))
          why = s->reasons[fi++].msg;
        if (!why || !*why) why = kk_stage_last_error(s->st);
        if (!why || !*why) why = kk_strerror(st);
        k = snprintf(o, room, "error %s\n", why);
      }
    }
    if (k > 0) w->len += (size_t)k < room ? (size_t)k : room - 1;
  }
  /* What waits is what was written: "ok 123\n" lines are far shorter
   * than the room reserved for reasons. */
  tcp_write_t *shrunk = realloc(w, sizeof *w + w->len);
  tcp_send(c, shrunk ? shrunk : w);
}

static void tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  tcp_conn_t *c = h->data;
  *buf = uv_buf_init(c->s->rbuf, sizeof c->s->rbuf);
}

static void tcp_shutdown_cb(uv_shutdown_t *req, int status) {
  (void)status;
  tcp_conn_t *c = req->data;
  tcp_conn_close(c);
}

static void tcp_read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  tcp_conn_t *c = h->data;
  tcp_state_t *s = c->s;
  if (nread == 0) return;
  s->nitems = 0;
  kk_batch_t *b = kk_batch_new(64);
  int rc = b ? 0 : KK_ENOMEM;
  int64_t now = kk_now_ms();
  if (rc == 0 && nread > 0) rc = tcp_split(c, b, buf->base, (size_t)nread, now);
  if (rc == 0 && nread == UV_EOF && c->carry_len && !c->discarding) {
    /* The last line may lack its newline. */
    rc = tcp_line(c, b, c->carry, c->carry_len, now);
    c->carry_len = 0;
  }
  if (rc != 0) {
    kk_stage_log(s->st, KK_LOG_ERROR, "%s: %s; closing the connection", c->peer,
                 kk_strerror(rc));
    kk_batch_unref(b);
    tcp_conn_close(c);
    return;
  }
  tcp_commit(c, b);
  kk_batch_unref(b);
  if (nread < 0 && !c->closing) {
    if (nread != UV_EOF) {
      kk_stage_log(s->st, KK_LOG_DEBUG, "%s: %s", c->peer,
                   uv_strerror((int)nread));
      tcp_conn_close(c);
      return;
    }
    /* The client is done sending: flush our answers, then close. */
    c->eof = 1;
    tcp_conn_update(c);
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, h, tcp_shutdown_cb) != 0) tcp_conn_close(c);
  }
}

/* ---- server ---------------------------------------------------------- */

static void tcp_connection_cb(uv_stream_t *server, int status) {
  tcp_state_t *s = server->data;
  if (status < 0) {
    kk_stage_log(s->st, KK_LOG_WARN, "accept: %s", uv_strerror(status));
    return;
  }
  tcp_conn_t *c = calloc(1, sizeof *c);
  if (!c) {
    kk_stage_log(s->st, KK_LOG_ERROR, "out of memory accepting a client");
    return;
  }
  c->s = s;
  uv_tcp_init(kk_stage_loop(s->st), &c->h);
  c->h.data = c;
  s->nhandles++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  if (uv_accept(server, (uv_stream_t *)&c->h) != 0) {
    tcp_conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->h, 1);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char host[48] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
  }
  snprintf(c->peer, sizeof c->peer,
           ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
  kk_metric_add(s->conns_total, 1);
  kk_stage_log(s->st, KK_LOG_DEBUG, "client %s connected", c->peer);
  tcp_conn_update(c);
}

/* Parses "host:port", "[v6]:port" or ":port" (all interfaces). */
static int tcp_parse_listen(const char *spec, struct sockaddr_storage *ss) {
  char host[64];
  const char *colon = strrchr(spec, ':');
  if (!colon || colon - spec >= (long)sizeof host) return KK_EPARSE;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end || port < 0 || port > 65535) return KK_EPARSE;
  size_t hl = (size_t)(colon - spec);
  if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
    memcpy(host, spec + 1, hl - 2);
    host[hl - 2] = '\0';
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) ? KK_EPARSE
                                                                   : 0;
  }
  memcpy(host, spec, hl);
  host[hl] = '\0';
  if (hl == 0) snprintf(host, sizeof host, "0.0.0.0");
  return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) ? KK_EPARSE : 0;
}

/* ---- module callbacks ------------------------------------------------ */

static int tcp_create(kk_stage_t *st, const kk_opts_t *opts, void **state) {
  tcp_state_t *s = calloc(1, sizeof *s);
  if (!s) {
    kk_stage_error(st, "out of memory");
    return KK_ENOMEM;
  }
  *state = s;
  s->st = st;
  s->listen = kk_opt_str(opts, "listen");
  s->max_line = (size_t)kk_opt_size(opts, "max_line");
  struct sockaddr_storage ss;
  if (tcp_parse_listen(s->listen, &ss) != 0) {
    kk_stage_error(st,
                   "listen '%s' is not host:port (127.0.0.1:7878, "
                   "[::1]:7878, :7878)",
                   s->listen);
    return KK_EINVAL;
  }
  if (s->max_line == 0) {
    kk_stage_error(st, "max_line must be at least 1 byte");
    return KK_ERANGE;
  }
  s->too_long = kk_stage_counter(st, "kk_rejected_total", "too_long",
                                 "Input records rejected, by reason.");
  s->journal_fail = kk_stage_counter(st, "kk_rejected_total", "journal",
                                     "Input records rejected, by reason.");
  s->conns_total = kk_stage_counter(st, "kk_tcp_connections_total", NULL,
                                    "Client connections accepted.");
  char labels[300];
  snprintf(labels, sizeof labels, "stage=\"%s\"", kk_stage_name(st));
  s->m_queued = kk_gauge("kk_tcp_answers_queued_bytes", labels,
                         "Answers written to clients that have not read "
                         "them yet (bounded; see source.tcp)");
  s->m_blocked = kk_gauge("kk_tcp_blocked_connections", labels,
                          "Clients not read because their answers wait");
  return 0;
}

static void tcp_server_close_cb(uv_handle_t *h) {
  tcp_handle_closed(h->data);
}

static int tcp_start(kk_stage_t *st, void *state) {
  tcp_state_t *s = state;
  struct sockaddr_storage ss;
  tcp_parse_listen(s->listen, &ss); /* checked in create */
  uv_tcp_init(kk_stage_loop(st), &s->server);
  s->server.data = s;
  s->server_open = 1;
  s->nhandles = 1;
  int rc = uv_tcp_bind(&s->server, (const struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&s->server, 511, tcp_connection_cb);
  if (rc != 0) {
    kk_stage_error(st, "cannot listen on %s: %s", s->listen, uv_strerror(rc));
    /* The core does not stop a stage whose start failed: close here (the
     * callback runs before destroy). */
    s->server_open = 0;
    uv_close((uv_handle_t *)&s->server, tcp_server_close_cb);
    return rc;
  }
  int len = sizeof ss;
  char host[48] = "?";
  int port = 0;
  if (uv_tcp_getsockname(&s->server, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
  }
  kk_stage_log(st, KK_LOG_INFO, "listening on %s port %d (max line %zu bytes)",
               host, port, s->max_line);
  s->paused = kk_stage_paused(st);
  return 0;
}

static void tcp_pause(kk_stage_t *st, void *state) {
  (void)st;
  tcp_state_t *s = state;
  s->paused = 1;
  for (tcp_conn_t *c = s->conns; c; c = c->next)
    tcp_conn_update(c);
}

static void tcp_resume(kk_stage_t *st, void *state) {
  (void)st;
  tcp_state_t *s = state;
  s->paused = 0;
  for (tcp_conn_t *c = s->conns; c; c = c->next)
    tcp_conn_update(c);
}

static void tcp_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  tcp_state_t *s = state;
  s->stopping = 1;
  s->stop_cb = cb;
  if (!s->server_open) { /* never started */
    cb(st);
    return;
  }
  s->server_open = 0;
  uv_close((uv_handle_t *)&s->server, tcp_server_close_cb);
  while (s->conns)
    tcp_conn_close(s->conns);
}

static void tcp_destroy(void *state) {
  tcp_state_t *s = state;
  if (!s) return;
  free(s->items);
  free(s->status);
  free(s->reasons);
  free(s);
}

static const kk_option_t tcp_options[] = {
    {.name = "listen",
     .type = KK_OPT_STRING,
     .def = "127.0.0.1:7878",
     .description = "Address to listen on: host:port, [v6]:port, or :port "
                    "for all IPv4 interfaces (port 0: any free port, "
                    "logged)."},
    {.name = "max_line",
     .type = KK_OPT_SIZE,
     .def = "64KiB",
     .description = "Longest accepted line; a longer one is answered "
                    "\"error line too long\" and skipped."},
    {NULL}};

const kk_module_t source_tcp_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "tcp",
    .ns = "source",
    .kind = KK_KIND_SOURCE,
    .summary = "Receives JSON readings over TCP, one per line, journaled.",
    .description =
        "A TCP server for gateways and scripts.  Each line is one JSON "
        "reading, `{\"thing\":..,\"property\":..,\"unit\":..,\"time\":..,"
        "\"value\":..}` (time as ISO 8601 with zone or milliseconds since "
        "1970).  Lines are appended to the journal before they are "
        "answered, one answer per line and in order: `ok <seq>` (durably "
        "journaled under that sequence number), `error <reason>` (for "
        "example `error field 'value' must be a number`, `error line too "
        "long (max 65536 bytes)`, or `error journal: ...` when the journal "
        "cannot take it: send it again).  Blank lines are ignored.  While "
        "the pipeline is paused, connections are not read, so TCP flow "
        "control slows the clients; nor is a client whose answers wait "
        "unread (128 KiB of them, or any while 8 MiB wait for all clients: "
        "kk_tcp_answers_queued_bytes).  There is no authentication or TLS: "
        "listen on loopback or a trusted network.",
    .options = tcp_options,
    .create = tcp_create,
    .start = tcp_start,
    .decode = tcp_decode,
    .pause = tcp_pause,
    .resume = tcp_resume,
    .stop = tcp_stop,
    .destroy = tcp_destroy,
};
