/* core/journal_cli.c - `klimakit journal`: segments, cursors and dead
 * letters of a journal, for the operator.
 *
 * Reading (segments, cursors, dead, show) works while klimakit runs;
 * requeue appends to the journal, so it takes the journal's lock and
 * asks for the process to be stopped first. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core.h"
#include "journal.h"
#include "journal_dead.h"

int kk__cmd_journal(int argc, char **argv);

static const char *journal_help =
    "usage: klimakit journal [--data-dir DIR | --journal DIR] COMMAND\n"
    "\n"
    "Looks at the journal of a data directory (default ./var; the journal is\n"
    "DIR/journal).\n"
    "\n"
    "  segments         segment files: first record, size\n"
    "  cursors          every sink's cursor (the last record it finished)\n"
    "  dead             the dead letters: records a decoder rejected, a\n"
    "                   transform failed on, or the process died on while\n"
    "                   replaying them; one line each with the reason\n"
    "  show SEQ         one dead letter in full (meta and payload)\n"
    "  requeue SEQ...   put dead letters back into the journal as new\n"
    "  requeue --all    records (after the decoder was fixed); the next\n"
    "                   start offers them to every sink.  klimakit must be\n"
    "                   stopped: the running process holds the journal\n"
    "\n"
    "Exit 0, 1 on a failure, 2 on a usage error.\n";

static void time_text(int64_t ms, char out[KK_TIME_ISO_MAX]) {
  kk_time_format_iso8601(ms, out);
}

static int name_cmp(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  return strcmp(x ? x : "", y ? y : "");
}

static int cmd_segments(const char *jdir) {
  DIR *d = opendir(jdir);
  if (!d) {
    fprintf(stderr, "klimakit journal: %s: %s\n", jdir, strerror(errno));
    return 1;
  }
  struct dirent *de;
  char **names = NULL;
  size_t n = 0;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l != 24 || strcmp(de->d_name + 20, ".kkj") != 0) continue;
    char **nn = realloc(names, (n + 1) * sizeof *nn);
    if (!nn) break;
    names = nn;
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, name_cmp);
  uint64_t total = 0;
  printf("%-24s %12s\n", "segment", "bytes");
  for (size_t i = 0; i < n; i++) {
    char path[4400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", jdir, names[i] ? names[i] : "");
    if (names[i] && stat(path, &sb) == 0) {
      printf("%-24s %12lld\n", names[i], (long long)sb.st_size);
      total += (uint64_t)sb.st_size;
    }
    free(names[i]);
  }
  free(names);
  printf("%zu segment%s, %" PRIu64 " bytes\n", n, n == 1 ? "" : "s", total);
  return 0;
}

static int cmd_cursors(const char *jdir) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/cursors", jdir);
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "klimakit journal: %s: %s\n", dir, strerror(errno));
    return 1;
  }
  struct dirent *de;
  printf("%-32s %20s\n", "sink", "cursor");
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp")) continue;
    char path[4500], text[64] = "";
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (!fgets(text, sizeof text, f)) text[0] = 0;
    fclose(f);
    text[strcspn(text, "\r\n")] = 0;
    printf("%-32s %20s\n", de->d_name, text);
  }
  closedir(d);
  return 0;
}

static int list_cb(void *ud, const kk__dead_t *d, const char *why) {
  size_t *n = ud;
  if (!d) {
    printf("?  %s\n", why);
    return 0;
  }
  char t[KK_TIME_ISO_MAX];
  time_text(d->dead_ms, t);
  printf("%-10" PRIu64 " %-24s %-16s %-16s %5u %s\n", d->seq, t, d->source,
         d->stage, d->attempts, d->reason);
  (*n)++;
  return 0;
}

static int cmd_dead(const char *jdir) {
  size_t n = 0;
  printf("%-10s %-24s %-16s %-16s %5s %s\n", "seq", "dead since", "source",
         "stage", "tries", "reason");
  int rc = kk__dead_list(jdir, list_cb, &n);
  if (rc) {
    fprintf(stderr, "klimakit journal: %s/dead: %s\n", jdir, kk_strerror(rc));
    return 1;
  }
  kk__dead_stats_t st;
  kk__dead_stats(jdir, &st);
  printf("%zu dead letter%s, %" PRIu64 " bytes\n", n, n == 1 ? "" : "s",
         st.bytes);
  return 0;
}

static int parse_seq(const char *s, uint64_t *seq) {
  char *e;
  errno = 0;
  unsigned long long v = strtoull(s, &e, 10);
  if (errno || *e || !*s || s[0] == '-') return -1;
  *seq = v;
  return 0;
}

static int cmd_show(const char *jdir, const char *arg) {
  uint64_t seq;
  if (parse_seq(arg, &seq)) {
    fprintf(stderr, "klimakit journal show: '%s' is not a record number\n",
            arg);
    return 2;
  }
  kk__dead_t d;
  uint8_t *file;
  char err[400];
  int rc = kk__dead_load(jdir, seq, &d, &file, err, sizeof err);
  if (rc) {
    fprintf(stderr, "klimakit journal show: %s\n",
            rc == -ENOENT ? "no dead letter with that number" : err);
    return 1;
  }
  char t1[KK_TIME_ISO_MAX], t2[KK_TIME_ISO_MAX];
  time_text(d.time_ms, t1);
  time_text(d.dead_ms, t2);
  printf("seq:      %" PRIu64 "\nreceived: %s\nsource:   %s\nformat:   %" PRIu32
         "\nstage:    %s\nreason:   %s\ntries:    %" PRIu32
         "\ndead:     %s\nmeta:     %s\nbytes:    %" PRIu32 "\n",
         d.seq, t1, d.source, d.format, d.stage, d.reason, d.attempts, t2,
         d.meta, d.len);
  int text = 1;
  for (uint32_t i = 0; i < d.len; i++)
    if ((d.data[i] < 0x20 && d.data[i] != '\n' && d.data[i] != '\r' &&
         d.data[i] != '\t') ||
        d.data[i] == 0x7f)
      text = 0;
  printf("payload:\n");
  if (text) {
    fwrite(d.data, 1, d.len, stdout);
    if (d.len && d.data[d.len - 1] != '\n') putchar('\n');
  } else {
    for (uint32_t i = 0; i < d.len; i += 16) {
      printf("  %08" PRIx32 " ", i);
      for (uint32_t k = i; k < i + 16 && k < d.len; k++)
        printf(" %02x", d.data[k]);
      putchar('\n');
    }
  }
  free((void *)d.meta);
  free(file);
  return 0;
}

typedef struct requeue_ctx {
  uint64_t *seqs;
  size_t n, cap;
} requeue_ctx_t;

static int collect_cb(void *ud, const kk__dead_t *d, const char *why) {
  (void)why;
  requeue_ctx_t *c = ud;
  if (!d) return 0;
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 64;
    uint64_t *ns = realloc(c->seqs, nc * sizeof *ns);
    if (!ns) return KK_ENOMEM;
    c->seqs = ns;
    c->cap = nc;
  }
  c->seqs[c->n++] = d->seq;
  return 0;
}

static int cmd_requeue(const char *jdir, int argc, char **argv) {
  requeue_ctx_t c = {0};
  if (argc == 1 && strcmp(argv[0], "--all") == 0) {
    int rc = kk__dead_list(jdir, collect_cb, &c);
    if (rc) {
      fprintf(stderr, "klimakit journal requeue: %s\n", kk_strerror(rc));
      free(c.seqs);
      return 1;
    }
  } else {
    for (int i = 0; i < argc; i++) {
      uint64_t s;
      if (parse_seq(argv[i], &s) ||
          collect_cb(&c, &(kk__dead_t){.seq = s}, NULL) != 0) {
        fprintf(stderr,
                "klimakit journal requeue: '%s' is not a record "
                "number\n",
                argv[i]);
        free(c.seqs);
        return 2;
      }
    }
  }
  if (c.n == 0) {
    printf("no dead letters to requeue\n");
    free(c.seqs);
    return 0;
  }
  kk__journal_cfg_t cfg = {.dir = jdir, .fsync = KK__FSYNC_ALWAYS};
  kk__journal_t *j;
  char err[600];
  int rc = kk__journal_open(&cfg, &j, err, sizeof err);
  if (rc) {
    fprintf(stderr, "klimakit journal requeue: %s%s\n", err,
            rc == KK_EBUSY ? "; stop klimakit first, requeue, then start it "
                             "again"
                           : "");
    free(c.seqs);
    return 1;
  }
  int status = 0;
  size_t done = 0;
  for (size_t i = 0; i < c.n; i++) {
    kk__dead_t d;
    uint8_t *file;
    rc = kk__dead_load(jdir, c.seqs[i], &d, &file, err, sizeof err);
    if (rc) {
      fprintf(stderr, "klimakit journal requeue: %" PRIu64 ": %s\n", c.seqs[i],
              rc == -ENOENT ? "no dead letter with that number" : err);
      status = 1;
      continue;
    }
    uint64_t seq = 0;
    rc = kk__journal_append(j, d.source, d.time_ms, d.format, d.meta, d.data,
                            d.len, &seq);
    if (rc == 0) rc = kk__journal_commit(j);
    if (rc == 0) rc = kk__dead_remove(jdir, d.seq);
    if (rc) {
      fprintf(stderr, "klimakit journal requeue: %" PRIu64 ": %s\n", d.seq,
              kk_strerror(rc));
      status = 1;
    } else {
      printf("requeued %" PRIu64 " as %" PRIu64 " (source %s)\n", d.seq, seq,
             d.source);
      done++;
    }
    free((void *)d.meta);
    free(file);
  }
  kk__journal_close(j);
  printf("%zu dead letter%s requeued; the next start offers them to every "
         "sink\n",
         done, done == 1 ? "" : "s");
  free(c.seqs);
  return status;
}

int kk__cmd_journal(int argc, char **argv) {
  const char *data_dir = "var", *jdir_opt = NULL;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(journal_help, stdout);
      return 0;
    }
    const char **dst = strncmp(a, "--data-dir", 10) == 0 ? &data_dir
                       : strncmp(a, "--journal", 9) == 0 ? &jdir_opt
                                                         : NULL;
    if (!dst) break;
    const char *eq = strchr(a, '=');
    if (eq) {
      *dst = eq + 1;
    } else if (i + 1 < argc) {
      *dst = argv[++i];
    } else {
      fputs(journal_help, stderr);
      return 2;
    }
  }
  if (i >= argc) {
    fputs(journal_help, stderr);
    return 2;
  }
  kk__log_setup(KK__LOGFMT_TEXT, KK_LOG_WARN);
  char jdir[4096];
  if (jdir_opt)
    snprintf(jdir, sizeof jdir, "%s", jdir_opt);
  else
    snprintf(jdir, sizeof jdir, "%s/journal", data_dir);
  const char *cmd = argv[i++];
  int rest = argc - i;
  if (strcmp(cmd, "segments") == 0 && rest == 0) return cmd_segments(jdir);
  if (strcmp(cmd, "cursors") == 0 && rest == 0) return cmd_cursors(jdir);
  if (strcmp(cmd, "dead") == 0 && rest == 0) return cmd_dead(jdir);
  if (strcmp(cmd, "show") == 0 && rest == 1) return cmd_show(jdir, argv[i]);
  if (strcmp(cmd, "requeue") == 0 && rest >= 1)
    return cmd_requeue(jdir, rest, argv + i);
  fputs(journal_help, stderr);
  return 2;
}
