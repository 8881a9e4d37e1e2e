/*
 * modules/forward/forward_delivery.c - the delivery loop of a forwarding
 * sink (the contract is in forward.h): taking batches into the spool (or
 * keeping them while it is full), sending the head of the spool through
 * the sink's `send` one delivery at a time, and acting on the result:
 * acknowledged items are consumed, refused ones written to dead-letter/,
 * failures retried with exponential backoff and jitter.  At stop it drains
 * for up to `drain`.  The spool itself is forward_spool.c.  Runs on the
 * loop thread.
 */
#include <klimakit.h>
#include "forward/forward_spool.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fw_pump(fw_t *fw);

/* ---- taking batches ------------------------------------------------ */

/* Moves batches that waited for room into the spool, in order. */
static void fw_flush_wait(fw_t *fw) {
  while (fw->wait_head && !fw->broken) {
    int rc = fw_spool_append(fw, fw->wait_head->b);
    if (rc == KK_EFULL) return;
    if (rc < 0) {
      fw->broken = 1;
      kk_stage_log(fw->st, KK_LOG_ERROR,
                   "spool write failed: %s; later batches stay in the "
                   "journal for the next start",
                   kk_strerror(rc));
      return;
    }
    fw_wait_t *w = fw->wait_head;
    fw->wait_head = w->next;
    if (!fw->wait_head) fw->wait_tail = NULL;
    kk_batch_unref(w->b);
    free(w);
    kk_stage_done(fw->st);
  }
}

int fw_process(fw_t *fw, kk_batch_t *b) {
  if (fw->broken) {
    kk_stage_error(fw->st, "the spool could not be written earlier");
    return KK_EIO;
  }
  int rc = fw->wait_head ? KK_EFULL : fw_spool_append(fw, b);
  if (rc == KK_EFULL) {
    fw_wait_t *w = malloc(sizeof *w);
    if (!w) return KK_ENOMEM;
    w->b = kk_batch_ref(b);
    w->next = NULL;
    if (fw->wait_tail)
      fw->wait_tail->next = w;
    else
      fw->wait_head = w;
    fw->wait_tail = w;
    return KK_ASYNC;
  }
  if (rc < 0) {
    fw->broken = 1;
    kk_stage_error(fw->st, "cannot write the spool in %s: %s", fw->dir,
                   kk_strerror(rc));
    return rc;
  }
  fw_pump(fw);
  return 0;
}

/* ---- sending ------------------------------------------------------- */

static void fw_timer_cb(uv_timer_t *t) {
  fw_t *fw = t->data;
  fw->timer_armed = 0;
  fw_pump(fw);
}

static void fw_schedule(fw_t *fw, uint64_t delay_ms) {
  if (fw->stopped) return;
  fw->timer_armed = 1;
  uv_timer_start(&fw->timer, fw_timer_cb, delay_ms, 0);
}

static void fw_pump(fw_t *fw) {
  if (fw->inflight || fw->stopped || fw->timer_armed) return;
  if (fw->nitems == fw->sent || fw->sent == 0) {
    int rc = fw_spool_load(fw);
    if (rc) {
      kk_stage_log(fw->st, KK_LOG_ERROR, "cannot read the spool: %s",
                   kk_strerror(rc));
      fw_schedule(fw, fw->retry_max);
      return;
    }
  }
  if (fw->nitems == 0) return;
  fw->inflight = 1;
  fw->sent = fw->nitems;
  int rc = fw->ops->send(fw->ctx, fw->items, fw->nitems);
  if (rc == FW_NOT_READY) {
    fw->inflight = 0;
    fw->sent = 0;
    fw->ready_wait = 1;
  } else if (rc < 0) {
    fw->inflight = 0;
    fw->sent = 0;
    fw_result(fw, FW_RETRY, 0, 0, kk_strerror(rc), NULL, NULL);
  }
}

void fw_delivery_id(const fw_t *fw, char *buf, size_t len) {
  snprintf(buf, len, "%" PRIu64 "-%" PRIu64 "-%" PRIu64, fw->rseg, fw->roff,
           fw->rsub);
}

void fw_kick(fw_t *fw) {
  fw->ready_wait = 0;
  if (!fw->inflight && !fw->stopped) fw_schedule(fw, 0);
}

/* ---- results ------------------------------------------------------- */

static void fw_dead_letter(fw_t *fw, size_t n, int status, const char *reason,
                           const char *request, const char *response) {
  char dir[4200], path[4400];
  snprintf(dir, sizeof dir, "%s/../dead-letter", fw->dir);
  if (kk_mkdirs(dir, 0) != 0) return;
  cJSON *o = cJSON_CreateObject();
  char t[KK_TIME_ISO_MAX];
  kk_time_format_iso8601(kk_now_ms(), t);
  cJSON_AddStringToObject(o, "time", t);
  cJSON_AddStringToObject(o, "stage", kk_stage_name(fw->st));
  cJSON_AddNumberToObject(o, "status", status);
  cJSON_AddStringToObject(o, "reason", reason ? reason : "");
  cJSON *req = request ? cJSON_Parse(request) : NULL;
  if (req)
    cJSON_AddItemToObject(o, "request", req);
  else if (request)
    cJSON_AddStringToObject(o, "request", request);
  if (response) cJSON_AddStringToObject(o, "response", response);
  cJSON *rs = cJSON_AddArrayToObject(o, "readings");
  for (size_t i = 0; i < n && i < fw->nitems; i++) {
    const fw_item_t *it = &fw->items[i];
    char tt[KK_TIME_ISO_MAX];
    kk_time_format_iso8601(it->time_ms, tt);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "thing", it->thing);
    cJSON_AddStringToObject(r, "property", it->property);
    cJSON_AddStringToObject(r, "unit", it->unit);
    cJSON_AddStringToObject(r, "time", tt);
    if (it->has_value)
      cJSON_AddNumberToObject(r, "value", it->value);
    else
      cJSON_AddNullToObject(r, "value");
    cJSON_AddItemToArray(rs, r);
  }
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  if (!text) return;
  snprintf(path, sizeof path, "%s/%" PRId64 "-%" PRIu64 "-%" PRIu64 ".json",
           dir, kk_now_ms(), fw->rseg, fw->roff);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fputc('\n', f);
    fclose(f);
  }
  free(text);
}

static void fw_finish_stop(fw_t *fw) {
  if (fw->stopped) return;
  fw->stopped = 1;
  uv_timer_stop(&fw->timer);
  uv_timer_stop(&fw->drain);
  uv_close((uv_handle_t *)&fw->timer, NULL);
  uv_close((uv_handle_t *)&fw->drain, NULL);
  if (fw->pending)
    kk_stage_log(fw->st, KK_LOG_INFO,
                 "stopping with %" PRIu64 " spooled bytes not yet "
                 "acknowledged; they are sent after the next start",
                 fw->pending);
  void (*cb)(void *) = fw->stop_cb;
  fw->stop_cb = NULL;
  if (cb) cb(fw->stop_arg);
}

static void fw_drain_check(fw_t *fw) {
  if (!fw->draining || fw->stopped || fw->inflight) return;
  if (fw->drain_failed || (fw->pending == 0 && !fw->wait_head))
    fw_finish_stop(fw);
  else
    fw_pump(fw);
}

static void fw_drain_cb(uv_timer_t *t) {
  /* Drain time is over: a delivery still in flight is abandoned (the
   * sink closes its connection); it is sent again after the next start. */
  fw_finish_stop(t->data);
}

void fw_result(fw_t *fw, fw_outcome_t outcome, size_t n, int status,
               const char *reason, const char *request, const char *response) {
  fw->inflight = 0;
  if (fw->stopped) { /* an abandoned delivery ended */
    fw_spool_clear_window(fw);
    return;
  }
  if (n > fw->nitems) n = fw->nitems;
  if (outcome == FW_ACK && n > 0) {
    kk_metric_add(fw->m_acked, (int64_t)n);
    fw->backoff = 0;
    fw_spool_consume(fw, n);
  } else if (outcome == FW_DEAD && n > 0) {
    kk_metric_add(fw->m_dead, (int64_t)n);
    kk_metric_add(fw->m_dead_batches, 1);
    kk_stage_log(fw->st, KK_LOG_WARN,
                 "receiver refused %zu readings for good (%d %s): written to "
                 "dead-letter/",
                 n, status, reason ? reason : "");
    fw_dead_letter(fw, n, status, reason, request, response);
    fw_spool_consume(fw, n);
  } else {
    kk_metric_add(fw->m_retries, 1);
    fw->backoff = fw->backoff ? fw->backoff * 2 : fw->retry_min;
    if (fw->backoff > fw->retry_max) fw->backoff = fw->retry_max;
    /* up to a quarter of jitter, so that many nodes do not retry in step */
    uint64_t delay = fw->backoff + (uint64_t)rand() % (fw->backoff / 4 + 1);
    fw->sent = 0;
    if (fw->draining) {
      fw->drain_failed = 1;
      fw_spool_clear_window(fw);
    } else {
      kk_stage_log(fw->st, KK_LOG_WARN,
                   "delivery failed (%s); retrying in "
                   "%" PRIu64 " ms",
                   reason ? reason : "?", delay);
      fw_schedule(fw, delay);
    }
  }
  fw_flush_wait(fw);
  if (fw->draining) {
    fw_drain_check(fw);
    return;
  }
  if (outcome != FW_RETRY) fw_schedule(fw, 0);
}

/* ---- life cycle ----------------------------------------------------- */

int fw_new(kk_stage_t *st, const kk_opts_t *opts, const fw_ops_t *ops,
           void *ctx, fw_t **out) {
  fw_t *fw = calloc(1, sizeof *fw);
  if (!fw) return KK_ENOMEM;
  fw->st = st;
  fw->ops = ops;
  fw->ctx = ctx;
  fw->wfd = fw->rfd = -1;
  fw->max_bytes = kk_opt_size(opts, "spool_size");
  fw->retry_min = kk_opt_duration_ms(opts, "retry_min");
  fw->retry_max = kk_opt_duration_ms(opts, "retry_max");
  if (fw->retry_min == 0) fw->retry_min = 1;
  if (fw->retry_max < fw->retry_min) fw->retry_max = fw->retry_min;
  fw->max_batch = (size_t)kk_opt_int(opts, "max_batch");
  fw->drain_ms = kk_opt_duration_ms(opts, "drain");
  size_t dl = strlen(kk_stage_data_dir(st)) + 8;
  fw->dir = malloc(dl);
  if (!fw->dir) {
    free(fw);
    return KK_ENOMEM;
  }
  snprintf(fw->dir, dl, "%s/spool", kk_stage_data_dir(st));
  fw->m_acked = kk_stage_counter(st, "kk_forward_acked_total", NULL,
                                 "Readings the receiver acknowledged");
  fw->m_dead = kk_stage_counter(st, "kk_forward_dead_letter_total", NULL,
                                "Readings the receiver refused for good "
                                "(written to dead-letter/)");
  fw->m_dead_batches =
      kk_stage_counter(st, "kk_forward_dead_letter_files_total", NULL,
                       "Dead-letter files written");
  fw->m_retries = kk_stage_counter(st, "kk_forward_retries_total", NULL,
                                   "Failed deliveries that are retried");
  fw->m_spooled = kk_stage_counter(st, "kk_forward_spooled_total", NULL,
                                   "Readings written to the spool");
  fw->m_skipped =
      kk_stage_counter(st, "kk_forward_replay_skipped_total", NULL,
                       "Replayed readings that were spooled before a restart");
  char labels[160];
  snprintf(labels, sizeof labels, "stage=\"%s\"", kk_stage_name(st));
  fw->m_spool_bytes = kk_gauge("kk_forward_spool_bytes", labels,
                               "Bytes in the spool not yet acknowledged");
  int rc = fw_spool_open(fw);
  if (rc) {
    kk_stage_error(st, "cannot open the spool in %s: %s", fw->dir,
                   kk_strerror(rc));
    if (fw->wfd >= 0) close(fw->wfd);
    free(fw->dir);
    free(fw);
    return rc;
  }
  kk_metric_set(fw->m_spool_bytes, (int64_t)fw->pending);
  /* Replay after a restart must not hand over a batch that mixes records
   * spooled before the crash with later ones: cut replay batches here. */
  if (fw->last_seq) kk_stage_hold(st, fw->last_seq);
  if (fw->pending)
    kk_stage_log(st, KK_LOG_INFO,
                 "spool holds %" PRIu64 " bytes not yet acknowledged; "
                 "resuming delivery",
                 fw->pending);
  uv_timer_init(kk_stage_loop(st), &fw->timer);
  uv_timer_init(kk_stage_loop(st), &fw->drain);
  fw->timer.data = fw->drain.data = fw;
  *out = fw;
  fw_schedule(fw, 0);
  return 0;
}

void fw_stop(fw_t *fw, void (*cb)(void *arg), void *arg) {
  fw->stop_cb = cb;
  fw->stop_arg = arg;
  fw->draining = 1;
  if (fw->drain_ms == 0) {
    fw_finish_stop(fw);
    return;
  }
  uv_timer_start(&fw->drain, fw_drain_cb, fw->drain_ms, 0);
  /* A retry waiting for its backoff is not waited for. */
  if (fw->timer_armed && fw->backoff) fw->drain_failed = 1;
  fw_drain_check(fw);
}

void fw_free(fw_t *fw) {
  if (!fw) return;
  while (fw->wait_head) {
    fw_wait_t *w = fw->wait_head;
    fw->wait_head = w->next;
    kk_batch_unref(w->b);
    free(w);
  }
  fw_spool_close(fw);
  free(fw->dir);
  free(fw);
}
