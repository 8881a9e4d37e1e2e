/* libFuzzer target: dead letters (kk__dead_parse, core/journal_dead.c),
 * which `klimakit journal` reads back from disk.  A letter that parses
 * is written again with kk__dead_format() and must parse to the same
 * fields and bytes.  The parser is included here so that it is
 * instrumented. */
#include "../../core/journal_dead.c"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kk__dead_t a, b;
  char err[200];
  if (kk__dead_parse(data, size, &a, err, sizeof err) != 0) return 0;
  kk__journal_rec_t rec = {.seq = a.seq,
                           .time_ms = a.time_ms,
                           .format = a.format,
                           .source = a.source,
                           .meta = a.meta,
                           .data = a.data,
                           .len = a.len};
  kk_buf_t out = {0};
  kk__dead_format(&out, &rec, a.stage, a.reason, a.attempts, a.dead_ms);
  if (out.oom) abort();
  if (kk__dead_parse((const uint8_t *)out.p, out.len, &b, err, sizeof err))
    abort();
  if (a.seq != b.seq || a.time_ms != b.time_ms || a.format != b.format ||
      a.attempts != b.attempts || a.dead_ms != b.dead_ms ||
      strcmp(a.source, b.source) || strcmp(a.stage, b.stage) ||
      strcmp(a.reason, b.reason) || strcmp(a.meta, b.meta) || a.len != b.len ||
      memcmp(a.data, b.data, a.len))
    abort();
  free((void *)a.meta);
  free((void *)b.meta);
  kk_buf_free(&out);
  return 0;
}
