/*
 * modules/sink/file/file.h - sink.file's state, shared by its files:
 *   file.c       options, lifecycle, batches and their release
 *   file_out.c   the output file: open with tail repair, write, rotate, sync
 *   file_line.c  lines: long records, wide rows, the line template
 *   file_wide.c  wide mode's open rows and when they close
 */
#ifndef KK_SINK_FILE_H
#define KK_SINK_FILE_H

#include <klimakit.h>

#include "sink/sink_format.h"

enum { FILE_CSV, FILE_JSONL, FILE_TEMPLATE }; /* format */
enum { FILE_FSYNC_NEVER, FILE_FSYNC_INTERVAL, FILE_FSYNC_ALWAYS };

/* One piece of a line template. */
enum {
  FILE_SEG_LIT,
  FILE_SEG_THING,
  FILE_SEG_PROPERTY,
  FILE_SEG_UNIT,
  FILE_SEG_TIME,
  FILE_SEG_TIME_MS,
  FILE_SEG_LOCAL,
  FILE_SEG_VALUE,
  FILE_SEG_COLUMN /* wide mode: the value of column `col` */
};

typedef struct file_seg {
  int kind;
  size_t col;
  const char *lit; /* FILE_SEG_LIT: points into the template option */
  size_t len;
} file_seg_t;

/* A wide column: "co2" (any unit) or "co2 [ppm]" (only that unit). */
typedef struct file_col {
  char *property;    /* owned */
  char *unit;        /* owned; NULL: any unit */
  const char *title; /* the list item as given: the header cell */
} file_col_t;

/* A wide row being filled: one (thing, time). */
typedef struct file_row {
  uint32_t thing; /* index into things */
  int64_t time_ms;
  uint64_t first_batch; /* id of the oldest batch with a reading in it */
  uint64_t opened;      /* uv_now() when it opened */
  size_t nset;
  struct file_row *next; /* the thing's open rows; free list */
  double *val;           /* ncols values */
  unsigned char *set;    /* ncols flags */
} file_row_t;

typedef struct file_thing {
  char *name;       /* owned */
  file_row_t *rows; /* open rows, oldest time first */
} file_thing_t;

/* A batch handed to process() and not finished yet. */
typedef struct file_pend {
  uint64_t id;  /* batch counter */
  uint64_t gen; /* write generation its data went out with */
  int stamped;  /* every reading of it is written (gen is valid) */
  int current;  /* the batch process() is handling now */
  size_t readings;
} file_pend_t;

typedef struct file_state {
  kk_stage_t *st;
  /* options */
  const char *path_tmpl; /* borrowed from the opts */
  int format, fsync, time_how, header, crlf;
  char delim;
  const char *tz;
  uint64_t rotate_size, fsync_interval, hold_ms, lateness_ms;
  size_t max_rows, max_held;
  file_seg_t *segs; /* the template, compiled */
  size_t nsegs;
  int wide;
  file_col_t *cols;
  size_t ncols;
  /* formatting */
  sink_fmt_t fmt;
  sink_out_t out;    /* the lines of one write() */
  char *header_line; /* owned; "" for none */
  /* the output file */
  int fd;
  char *path;       /* owned: the name the open file was opened as */
  uint64_t size;    /* bytes of whole lines in it */
  int64_t name_sec; /* the second the name was last computed for */
  uint64_t wgen, synced_gen;
  int sync_busy, sync_close, sync_fd;
  uint64_t sync_target, last_sync;
  /* Rotated-out files waiting for their fsync and close, oldest first. */
  struct {
    int fd;
    uint64_t gen;
  } rot[16];
  size_t nrot;
  int cur_done; /* release() finished the batch process() is handling */
  uv_fs_t sync_req;
  uv_timer_t timer;
  int timer_open;
  /* wide rows */
  file_thing_t *things;
  uint32_t *thash; /* open addressing: thing index + 1, 0 empty */
  size_t nthash;
  size_t nthings, capthings;
  uint32_t *ds_thing; /* per datastream: thing index + 1, 0 unknown */
  int32_t *ds_col;    /* per datastream: column + 1, 0 unknown, -1 none */
  size_t nds;
  size_t nrows; /* open */
  file_row_t *free_rows;
  /* batches not finished yet (a ring) */
  file_pend_t *pend;
  size_t phead, plen, pcap;
  uint64_t next_batch;
  size_t held_readings;
  int failed, stopping;
  kk_stop_cb stop_cb;
  /* metrics, process-lived */
  kk_metric_t *m_bytes, *m_rows, *m_partial, *m_torn, *m_rot, *m_nocol,
      *m_early;
} file_state_t;

/* file_line.c */
int sink_file_template(file_state_t *s, const char *tmpl, char *err,
                       size_t errlen);
int sink_file_columns(file_state_t *s, const kk_opts_t *opts, char *err,
                      size_t errlen);
int sink_file_header(file_state_t *s);
int sink_file_long(file_state_t *s, const kk_reading_t *r);
int sink_file_row(file_state_t *s, const file_row_t *row);

/* file_out.c */
int sink_file_path_check(const char *tmpl, char *err, size_t errlen);
int sink_file_open(file_state_t *s);
int sink_file_write(file_state_t *s);
int sink_file_rotate_by_time(file_state_t *s);
void sink_file_sync_kick(file_state_t *s);
int sink_file_sync_now(file_state_t *s);
void sink_file_close(file_state_t *s);
void sink_file_stop_step(file_state_t *s);

/* file_wide.c */
int sink_file_wide_add(file_state_t *s, const kk_reading_t *r, uint64_t batch);
void sink_file_wide_close_old(file_state_t *s, uint64_t now, int all);
void sink_file_wide_close_upto(file_state_t *s, uint64_t batch);
uint64_t sink_file_wide_low(const file_state_t *s);
void sink_file_wide_free(file_state_t *s);

/* file.c */
void sink_file_release(file_state_t *s);

#endif
