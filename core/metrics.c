/* core/metrics.c - a process-wide registry of counters and gauges.
 *
 * Metrics are few (hundreds) and created rarely, so the registry is a
 * linked list behind a mutex; updates touch only the atomic value. */
#include <klimakit/metrics.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kk_metric {
  struct kk_metric *next;
  char *name;
  char *labels;
  char *help;
  int gauge;
  _Atomic int64_t value;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static kk_metric_t *metrics_head, *metrics_tail;

static kk_metric_t *metric_get(const char *name, const char *labels,
                               const char *help, int gauge) {
  if (!labels) labels = "";
  pthread_mutex_lock(&metrics_lock);
  kk_metric_t *m;
  for (m = metrics_head; m; m = m->next)
    if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0) break;
  if (!m && (m = calloc(1, sizeof *m))) {
    m->name = strdup(name);
    m->labels = strdup(labels);
    m->help = strdup(help ? help : "");
    m->gauge = gauge;
    if (!m->name || !m->labels || !m->help) {
      free(m->name);
      free(m->labels);
      free(m->help);
      free(m);
      m = NULL;
    } else {
      if (metrics_tail)
        metrics_tail->next = m;
      else
        metrics_head = m;
      metrics_tail = m;
    }
  }
  pthread_mutex_unlock(&metrics_lock);
  return m;
}

kk_metric_t *kk_counter(const char *name, const char *labels,
                        const char *help) {
  return metric_get(name, labels, help, 0);
}

kk_metric_t *kk_gauge(const char *name, const char *labels, const char *help) {
  return metric_get(name, labels, help, 1);
}

void kk_metric_add(kk_metric_t *m, int64_t delta) {
  if (m) atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void kk_metric_set(kk_metric_t *m, int64_t value) {
  if (m) atomic_store_explicit(&m->value, value, memory_order_relaxed);
}

int64_t kk_metric_value(const kk_metric_t *m) {
  return m ? atomic_load_explicit(&((kk_metric_t *)m)->value,
                                  memory_order_relaxed)
           : 0;
}

/* Grows `*buf` as needed and appends formatted text. */
static int buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
static int buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt,
                      ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < *cap - *len) {
      *len += (size_t)n;
      return 0;
    }
    size_t ncap = (*cap + (size_t)n + 1) * 2;
    char *nb = realloc(*buf, ncap);
    if (!nb) return -1;
    *buf = nb;
    *cap = ncap;
  }
}

char *kk_metrics_render(void) {
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  buf[0] = 0;
  pthread_mutex_lock(&metrics_lock);
  int rc = 0;
  /* Samples of one name must be contiguous: print each name's header with
   * its first metric, then every sample of that name. */
  for (kk_metric_t *m = metrics_head; m && rc == 0; m = m->next) {
    int first = 1;
    for (kk_metric_t *p = metrics_head; p != m; p = p->next)
      if (strcmp(p->name, m->name) == 0) first = 0;
    if (!first) continue;
    rc = buf_printf(&buf, &len, &cap, "# HELP %s %s\n# TYPE %s %s\n", m->name,
                    m->help, m->name, m->gauge ? "gauge" : "counter");
    for (kk_metric_t *s = m; s && rc == 0; s = s->next) {
      if (strcmp(s->name, m->name) != 0) continue;
      rc = buf_printf(&buf, &len, &cap, "%s%s%s%s %lld\n", s->name,
                      *s->labels ? "{" : "", s->labels, *s->labels ? "}" : "",
                      (long long)kk_metric_value(s));
    }
  }
  pthread_mutex_unlock(&metrics_lock);
  if (rc != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}
