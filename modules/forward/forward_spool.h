/*
 * modules/forward/forward_spool.h - the spool of a forwarding sink, as the
 * delivery loop (forward_delivery.c) uses it; sinks include forward.h.
 *
 * Spool layout, under <data_dir>/spool/: segment files NNNNNNNNNNNN.jsonl
 * of lines {"seq":N,"r":[[thing,property,unit,time_ms,value],...]} (an
 * event's reading has its document as a sixth member, a JSON string), and
 * `pos` ("segment offset item") replaced atomically.  Datastreams are kept
 * by name because datastream ids are only valid within one process.
 *
 * The head window holds the parsed items of the records at the read
 * position (up to max_batch), which is what one delivery offers.
 */
#ifndef KK_FORWARD_SPOOL_H
#define KK_FORWARD_SPOOL_H

#include <klimakit.h>

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "forward/forward.h"

/* A batch waiting for room in the spool. */
typedef struct fw_wait {
  kk_batch_t *b;
  struct fw_wait *next;
} fw_wait_t;

/* One spool line in the head window. */
typedef struct fw_rec {
  uint64_t off; /* offset of the line in the read segment */
  uint32_t len; /* bytes including the newline */
  size_t first; /* index of its first item in the window */
  size_t n;     /* items loaded into the window */
  int whole;    /* 1: the window holds the rest of the record */
} fw_rec_t;

/* The forwarder.  The spool part is kept by forward_spool.c, the delivery
 * part and the batches waiting for room by forward_delivery.c. */
struct fw {
  kk_stage_t *st;
  const fw_ops_t *ops;
  void *ctx;
  char *dir; /* <data_dir>/spool */
  uint64_t max_bytes, retry_min, retry_max, backoff;
  size_t max_batch;
  /* spool */
  uint64_t rseg, roff, rsub; /* read position: segment, offset, item */
  uint64_t wseg, wsize;      /* write segment and its size */
  int wfd, rfd;              /* -1 when closed */
  uint64_t rfd_seg;
  uint64_t pending; /* bytes not yet acknowledged */
  uint64_t last_seq;
  int broken; /* a spool write failed: refuse every later batch */
  /* head window: parsed items of the records at the read position */
  cJSON **roots;
  fw_rec_t *recs;
  size_t nrecs, caprecs;
  fw_item_t *items;
  size_t nitems, capitems;
  size_t sent; /* items offered to send (from window index 0) */
  /* delivery */
  int inflight, ready_wait, timer_armed;
  /* shutdown: draining (stop asked, delivering on until the spool is
   * empty, a delivery fails or the drain time is over), then stopped */
  int draining, drain_failed, stopped;
  uint64_t drain_ms;
  uv_timer_t timer, drain; /* .data = this */
  void (*stop_cb)(void *);
  void *stop_arg;
  fw_wait_t *wait_head, *wait_tail;
  kk_buf_t line;
  uint64_t dead_files;
  kk_metric_t *m_acked, *m_dead, *m_dead_batches, *m_retries, *m_spooled,
      *m_skipped, *m_spool_bytes;
};

/* Opens (creating) fw->dir, finds the read and write segments, reads the
 * saved position, cuts a torn last record and sets fw->pending and
 * fw->last_seq.  0 or a negative code. */
int fw_spool_open(fw_t *fw);
/* Appends batch `b` (borrowed) as one line.  0 when appended or skipped
 * (a replayed batch spooled before a restart), KK_EFULL when the spool has
 * no room, or a negative code when it cannot be written. */
int fw_spool_append(fw_t *fw, kk_batch_t *b);
/* Fills the head window with up to max_batch items from the read
 * position, moving past finished segments.  0 or a negative code. */
int fw_spool_load(fw_t *fw);
/* Empties the head window (fw->nitems becomes 0). */
void fw_spool_clear_window(fw_t *fw);
/* The first `n` items of the window are done (acknowledged or dead):
 * moves the read position past them, saves it and clears the window. */
void fw_spool_consume(fw_t *fw, size_t n);
/* Closes the spool's files and frees the window (not fw). */
void fw_spool_close(fw_t *fw);

#endif
