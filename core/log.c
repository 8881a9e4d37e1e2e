/* core/log.c - human or JSON log lines, one write() each. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static kk__logfmt_t log_fmt = KK__LOGFMT_AUTO;
static kk_log_level_t log_level = KK_LOG_INFO;
static int log_color = 0;
static int log_json_chosen; /* JSON because stderr is no terminal */

void kk__log_setup(kk__logfmt_t fmt, kk_log_level_t level) {
  log_json_chosen = 0;
  if (fmt == KK__LOGFMT_AUTO) {
    fmt = isatty(STDERR_FILENO) ? KK__LOGFMT_TEXT : KK__LOGFMT_JSON;
    log_json_chosen = fmt == KK__LOGFMT_JSON;
  }
  log_fmt = fmt;
  log_level = level;
  log_color = fmt == KK__LOGFMT_TEXT && isatty(STDERR_FILENO);
}

uint64_t kk__hrtime_ms(void) {
  return uv_hrtime() / 1000000u;
}

int64_t kk_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *level_names[] = {"error", "warn", "info", "debug"};

static void log_write(kk_log_level_t level, const char *kind, const char *name,
                      const char *msg) {
  char line[4096];
  size_t n = 0;
  int64_t now = kk_now_ms();
  /* What Lua code prints (print, kk.log: info lines of kind "lua") is
   * text for people, also when the log turned JSON only because stderr
   * is a pipe (`make run | tee`); --log-format json makes it JSON. */
  int as_json =
      log_fmt == KK__LOGFMT_JSON &&
      !(log_json_chosen && level == KK_LOG_INFO && strcmp(kind, "lua") == 0);
  if (as_json) {
    char ts[KK_TIME_ISO_MAX];
    kk_time_format_iso8601(now, ts);
    n += (size_t)snprintf(line, sizeof line,
                          "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":"
                          "\"%s:%s\",\"msg\":",
                          ts, level_names[level], kind, name);
    if (n > sizeof line - 64) n = sizeof line - 64; /* absurd names */
    /* A message that does not fit escaped is cut, never the line's JSON. */
    size_t mlen = strlen(msg), start = n;
    while (kk_json_str(line, &n, sizeof line - 3, msg, mlen) != 0) {
      n = start;
      mlen /= 2;
    }
    line[n++] = '}';
    line[n++] = '\n';
  } else {
    static const char *colors[] = {"\033[31m", "\033[33m", "", "\033[2m"};
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    n += strftime(line, sizeof line, "%H:%M:%S", &tm);
    int w = snprintf(line + n, sizeof line - n, " %s%-5s%s [%s:%s] %s\n",
                     log_color ? colors[level] : "", level_names[level],
                     log_color ? "\033[0m" : "", kind, name, msg);
    n += w < 0 ? 0 : (size_t)w;
    if (n >= sizeof line) {
      n = sizeof line - 1;
      line[n - 1] = '\n';
    }
  }
  ssize_t r = write(STDERR_FILENO, line, n);
  (void)r;
}

void kk_log(kk_log_level_t level, const char *kind, const char *name,
            const char *fmt, ...) {
  if (level > log_level) return;
  char msg[3072];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_write(level, kind ? kind : "core", name ? name : "-", msg);
}

int kk_ratelimit_ok(kk_ratelimit_t *rl) {
  uint64_t now = kk__hrtime_ms();
  if (rl->window_start == 0 || now - rl->window_start >= rl->interval_ms) {
    if (rl->suppressed)
      kk_log(KK_LOG_WARN, "core", "log", "%llu similar messages suppressed",
             (unsigned long long)rl->suppressed);
    rl->window_start = now;
    rl->used = 0;
    rl->suppressed = 0;
  }
  if (rl->used < rl->burst) {
    rl->used++;
    return 1;
  }
  rl->suppressed++;
  return 0;
}
