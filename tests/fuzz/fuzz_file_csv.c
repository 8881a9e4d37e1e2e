/* libFuzzer target: the readers of source.file (modules/source/file.c):
 * CSV (RFC 4180 with a header) and JSON lines.
 *
 * The readers are static, so this file includes file.c itself, with its
 * descriptor renamed (the library has its own) and the few stage calls
 * they make (errors, logs, emitting a batch, end of input, failure)
 * redirected to stubs here: no engine, loop or file is needed.  The first
 * input byte chooses the format, skip_errors and the batch size; the
 * second the size of the chunks the rest is fed in, the way uv_fs_read
 * hands over a file, so that records split across chunks are read too. */
/* The library has its own descriptor. */
#define source_file_module fuzz_file_module_unused
#define kk_stage_error fuzz_stage_error
#define kk_stage_last_error fuzz_stage_last_error
#define kk_stage_log fuzz_stage_log
#define kk_stage_emit fuzz_stage_emit
#define kk_stage_eof fuzz_stage_eof
#define kk_stage_fail fuzz_stage_fail
#include "../../modules/source/file.c"

#include <stdarg.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_err[512];
static int fuzz_eofs, fuzz_fails;

void fuzz_stage_error(kk_stage_t *st, const char *fmt, ...) {
  (void)st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fuzz_err, sizeof fuzz_err, fmt, ap);
  va_end(ap);
}

const char *fuzz_stage_last_error(const kk_stage_t *st) {
  (void)st;
  return fuzz_err;
}

void fuzz_stage_log(kk_stage_t *st, kk_log_level_t level, const char *fmt,
                    ...) {
  (void)st, (void)level;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap); /* formatted, not printed */
  va_end(ap);
}

/* Reads every reading of the batch and its datastream, as a sink would. */
void fuzz_stage_emit(kk_stage_t *st, kk_batch_t *b) {
  (void)st;
  const kk_reading_t *r = kk_batch_readings(b);
  volatile double acc = 0;
  for (size_t i = 0; i < kk_batch_len(b); i++) {
    const kk_datastream_t *d = kk_datastream_get(r[i].ds);
    if (!d) abort();
    acc += r[i].value + (double)(r[i].time_ms & 0xff) +
           (double)strlen(d->thing) + (double)strlen(d->property) +
           (double)strlen(d->unit);
  }
  (void)acc;
}

void fuzz_stage_eof(kk_stage_t *st) {
  (void)st;
  fuzz_eofs++;
}

void fuzz_stage_fail(kk_stage_t *st, int rc) {
  (void)st, (void)rc;
  fuzz_fails++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  file_state_t *s = calloc(1, sizeof *s);
  if (!s) return 0;
  s->st = NULL; /* the stubs do not need one */
  s->path = "fuzz";
  s->fd = -1;
  s->format = data[0] & 1 ? FILE_JSONL : FILE_CSV;
  s->skip_errors = !(data[0] & 2);
  s->batch = 1 + (size_t)(data[0] >> 2) % 8;
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(10000, 10);
  size_t chunk = 1 + (size_t)data[1] * 4;
  data += 2, size -= 2;
  fuzz_eofs = fuzz_fails = 0;
  /* The pending buffer grows as file_read_next() grows it, one chunk
   * behind the unfinished record; each chunk is copied in, so that ASan
   * sees a read beyond what has arrived. */
  for (size_t off = 0; off < size && !s->failed; off += chunk) {
    size_t n = size - off < chunk ? size - off : chunk;
    if (s->pend_cap - s->pend_len < n) {
      char *np = realloc(s->pend, s->pend_len + n);
      if (!np) break;
      s->pend = np;
      s->pend_cap = s->pend_len + n;
    }
    memcpy(s->pend + s->pend_len, data + off, n);
    s->pend_len += n;
    s->bytes += n;
    file_consume(s, 0);
  }
  if (!s->failed) file_at_eof(s);
  /* The end is always told (twice when the last record fails: harmless,
   * kk_stage_eof() is idempotent), a failure once, and no record gives
   * more than one reading. */
  if (fuzz_eofs < 1 || fuzz_fails != s->failed || s->readings > s->records)
    abort();
  file_destroy(s);
  return 0;
}
