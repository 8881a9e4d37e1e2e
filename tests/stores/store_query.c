/*
 * tests/stores/store_query.c - kk-store-query: the store query API from
 * the command line, for the store tests and benchmarks.
 *
 *   kk-store-query BACKEND TARGET COMMAND [ARGS]
 *     things [PATTERN]
 *     datastreams [THING [PROPERTY [UNIT [SECTOR]]]]     ("-" = any)
 *     latest THING PROPERTY UNIT
 *     range THING PROPERTY UNIT FROM_MS TO_MS [raw|hour|day|auto] [LIMIT]
 *     agg THING PROPERTY UNIT FROM_MS TO_MS
 *     dump                      every datastream's every raw observation
 *     rollups                   every hourly and daily bucket
 *     backup DEST
 *     bench-latest N | bench-range FROM_MS TO_MS auto N   (timings)
 *
 * Output is one line per row, numbers with %.17g, so that the outputs of
 * two stores can be compared with diff.
 */
#include <klimakit.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void pt(const char *tag, const kk_store_point_t *p) {
  if (p->count == 0)
    printf("%s %lld count=0\n", tag, (long long)p->time_ms);
  else
    printf("%s %lld count=%lld sum=%.17g min=%.17g max=%.17g avg=%.12g\n", tag,
           (long long)p->time_ms, (long long)p->count, p->sum, p->min, p->max,
           p->avg);
}

static const char *any(const char *s) {
  return s && strcmp(s, "-") != 0 ? s : NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, int rc) {
  fprintf(stderr, "kk-store-query: %s: %s: %s\n", what, kk_strerror(rc),
          kk_store_errmsg());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: kk-store-query BACKEND TARGET COMMAND [ARGS]\n");
    return 2;
  }
  kk_store_t *s;
  int rc = kk_store_open(argv[1], argv[2], &s);
  if (rc != 0) return die("open", rc);
  const char *cmd = argv[3];
  char **a = argv + 4;
  int na = argc - 4, ret = 0;
  int64_t id = 0;
  if ((strcmp(cmd, "latest") == 0 || strcmp(cmd, "range") == 0 ||
       strcmp(cmd, "agg") == 0)) {
    if (na < 3) return 2;
    rc = kk_store_datastream_id(s, a[0], a[1], a[2], &id);
    if (rc != 0) {
      printf("unknown\n");
      kk_store_unref(s);
      return 0;
    }
  }
  if (strcmp(cmd, "things") == 0) {
    kk_store_filter_t f = {.thing = na > 0 ? any(a[0]) : NULL};
    kk_store_thing_list_t *l;
    if ((rc = kk_store_things(s, &f, &l)) != 0) return die(cmd, rc);
    for (size_t i = 0; i < l->len; i++)
      printf("thing %s location=%s properties=%s\n", l->items[i].name,
             l->items[i].location ? l->items[i].location : "-",
             l->items[i].properties ? l->items[i].properties : "-");
    kk_store_thing_list_free(l);
  } else if (strcmp(cmd, "datastreams") == 0) {
    kk_store_filter_t f = {na > 0 ? any(a[0]) : NULL, na > 1 ? any(a[1]) : NULL,
                           na > 2 ? any(a[2]) : NULL,
                           na > 3 ? any(a[3]) : NULL};
    kk_store_ds_list_t *l;
    if ((rc = kk_store_datastreams(s, &f, &l)) != 0) return die(cmd, rc);
    for (size_t i = 0; i < l->len; i++)
      printf("ds %s %s %s sector=%s\n", l->items[i].thing, l->items[i].property,
             l->items[i].unit, l->items[i].sector ? l->items[i].sector : "-");
    kk_store_ds_list_free(l);
  } else if (strcmp(cmd, "latest") == 0) {
    kk_store_point_t p;
    if ((rc = kk_store_latest(s, &id, 1, &p)) != 0) return die(cmd, rc);
    pt("latest", &p);
  } else if (strcmp(cmd, "range") == 0 && na >= 5) {
    kk_store_res_t res = KK_STORE_AUTO;
    if (na > 5)
      res = strcmp(a[5], "raw") == 0    ? KK_STORE_RAW
            : strcmp(a[5], "hour") == 0 ? KK_STORE_HOUR
            : strcmp(a[5], "day") == 0  ? KK_STORE_DAY
                                        : KK_STORE_AUTO;
    kk_store_series_t *sr;
    rc = kk_store_range(s, id, atoll(a[3]), atoll(a[4]), res,
                        na > 6 ? (size_t)atoll(a[6]) : 0, &sr);
    if (rc != 0) return die(cmd, rc);
    printf("series res=%d len=%zu truncated=%d\n", (int)sr->res, sr->len,
           sr->truncated);
    for (size_t i = 0; i < sr->len; i++)
      pt("p", &sr->points[i]);
    kk_store_series_free(sr);
  } else if (strcmp(cmd, "agg") == 0 && na >= 5) {
    kk_store_point_t p;
    if ((rc = kk_store_aggregate(s, id, atoll(a[3]), atoll(a[4]), &p)) != 0)
      return die(cmd, rc);
    pt("agg", &p);
  } else if (strcmp(cmd, "dump") == 0 || strcmp(cmd, "rollups") == 0) {
    kk_store_ds_list_t *l;
    if ((rc = kk_store_datastreams(s, NULL, &l)) != 0) return die(cmd, rc);
    int dump = strcmp(cmd, "dump") == 0;
    for (size_t i = 0; i < l->len && ret == 0; i++) {
      for (int r = dump ? 0 : 1; r <= (dump ? 0 : 2); r++) {
        kk_store_series_t *sr;
        rc = kk_store_range(s, l->items[i].id, INT64_MIN / 2, INT64_MAX / 2,
                            (kk_store_res_t)r, 0, &sr);
        if (rc != 0) {
          ret = die(cmd, rc);
          break;
        }
        for (size_t k = 0; k < sr->len; k++) {
          char tag[512];
          snprintf(tag, sizeof tag, "%s %s/%s/%s",
                   r == 0   ? "obs"
                   : r == 1 ? "hour"
                            : "day",
                   l->items[i].thing, l->items[i].property, l->items[i].unit);
          pt(tag, &sr->points[k]);
        }
        kk_store_series_free(sr);
      }
    }
    kk_store_ds_list_free(l);
  } else if (strcmp(cmd, "backup") == 0 && na >= 1) {
    if ((rc = kk_store_backup(s, a[0])) != 0) return die(cmd, rc);
    printf("backup ok\n");
  } else if (strcmp(cmd, "bench-latest") == 0 && na >= 1) {
    /* Latest value of random datastreams, one query each. */
    kk_store_ds_list_t *l;
    if ((rc = kk_store_datastreams(s, NULL, &l)) != 0 || l->len == 0)
      return die(cmd, rc);
    long n = atol(a[0]);
    srand(1);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
      kk_store_point_t p;
      int64_t q = l->items[(size_t)rand() % l->len].id;
      if ((rc = kk_store_latest(s, &q, 1, &p)) != 0) return die(cmd, rc);
    }
    printf("%.6f\n", (now_s() - t0) / (double)n * 1000.0);
    kk_store_ds_list_free(l);
  } else if (strcmp(cmd, "bench-range") == 0 && na >= 4) {
    /* A chart query (series, res as given) on random datastreams. */
    kk_store_ds_list_t *l;
    if ((rc = kk_store_datastreams(s, NULL, &l)) != 0 || l->len == 0)
      return die(cmd, rc);
    kk_store_res_t res = strcmp(a[2], "raw") == 0    ? KK_STORE_RAW
                         : strcmp(a[2], "hour") == 0 ? KK_STORE_HOUR
                         : strcmp(a[2], "day") == 0  ? KK_STORE_DAY
                                                     : KK_STORE_AUTO;
    long n = atol(a[3]);
    size_t pts = 0;
    srand(2);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
      kk_store_series_t *sr;
      int64_t q = l->items[(size_t)rand() % l->len].id;
      rc = kk_store_range(s, q, atoll(a[0]), atoll(a[1]), res, 0, &sr);
      if (rc != 0) return die(cmd, rc);
      pts += sr->len;
      kk_store_series_free(sr);
    }
    printf("%.6f %zu\n", (now_s() - t0) / (double)n * 1000.0,
           pts / (size_t)(n ? n : 1));
    kk_store_ds_list_free(l);
  } else {
    fprintf(stderr, "kk-store-query: unknown command or missing arguments\n");
    ret = 2;
  }
  kk_store_unref(s);
  return ret;
}
