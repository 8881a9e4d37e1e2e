/*
 * core/site.c - `klimakit docs build`: collects the pages, runs the
 * checks, writes the site.  See site.h.
 */
#include "site.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

int kk__cmd_modules(int argc, char **argv);

/* The generated start page's name (no such file: a '.' file of docs/). */
#define SITE_START_SRC "docs/.start.md"

static const char *docs_help =
    "usage: klimakit docs build [--out DIR] [--root DIR]\n"
    "\n"
    "Renders docs/ and every recipes/*/playbook.md into a static site in\n"
    "DIR (default build/site): navigation by audience, a table of contents\n"
    "per page, the module reference generated from the registry, each\n"
    "recipe's source beside its playbook, a search index.  Every internal\n"
    "link and anchor is checked and every playbook must have the sections\n"
    "of docs/kommune/playbook-vorlage.md; a failure is reported as\n"
    "file:line: error: ... and the command exits 1.\n"
    "--root DIR   the repository to render (default: the current folder)\n";

void site_error(site_t *s, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (s->tty) fputs("\r\033[K", stderr);
  if (strcmp(s->root, ".") != 0)
    fprintf(stderr, "%s/%s:%d: error: ", s->root, file, line);
  else
    fprintf(stderr, "%s:%d: error: ", file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  s->errors++;
}

char *site_read(const char *root, const char *rel, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  kk_buf_t b = {0};
  char buf[16384];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    kk_buf_put(&b, buf, n);
  fclose(f);
  if (!b.p) kk_buf_puts(&b, "");
  if (b.oom) {
    kk_buf_free(&b);
    return NULL;
  }
  if (len) *len = b.len;
  return b.p;
}

int site_write(site_t *s, const char *rel, const char *data, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", s->out, rel);
  int rc = kk_mkdirs(path, 1);
  FILE *f = rc == 0 ? fopen(path, "wb") : NULL;
  if (!f || fwrite(data, 1, len, f) != len) {
    fprintf(stderr, "klimakit: %s: %s\n", path, strerror(rc ? -rc : errno));
    if (f) fclose(f);
    s->errors++;
    return -1;
  }
  if (fclose(f) != 0) return s->errors++, -1;
  return 0;
}

site_page_t *site_find(site_t *s, const char *src) {
  for (size_t i = 0; i < s->npages; i++)
    if (strcmp(s->pages[i]->src, src) == 0) return s->pages[i];
  return NULL;
}

site_page_t *site_find_out(site_t *s, const char *out) {
  for (size_t i = 0; i < s->npages; i++)
    if (strcmp(s->pages[i]->out, out) == 0) return s->pages[i];
  return NULL;
}

static int has_prefix(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

/* docs/x/y.md -> x/y.html, docs/x/README.md -> x/index.html,
 * recipes/n/... -> rezepte/n/..., anything else -> repo/<path>. */
char *site_out_path(const char *src) {
  kk_buf_t b = {0};
  if (strcmp(src, SITE_START_SRC) == 0)
    kk_buf_puts(&b, "index.html");
  else if (strcmp(src, "docs/README.md") == 0)
    kk_buf_puts(&b, "uebersicht.html"); /* index.html is the start page */
  else if (has_prefix(src, "docs/"))
    kk_buf_puts(&b, src + 5);
  else if (has_prefix(src, "recipes/"))
    kk_buf_printf(&b, "rezepte/%s", src + 8);
  else
    kk_buf_printf(&b, "repo/%s", src);
  size_t n = b.len;
  if (n >= 3 && strcmp(b.p + n - 3, ".md") == 0) {
    const char *base = strrchr(b.p, '/');
    base = base ? base + 1 : b.p;
    if (strcmp(base, "README.md") == 0 || strcmp(base, "index.md") == 0)
      b.len = (size_t)(base - b.p), kk_buf_puts(&b, "index.html");
    else
      b.len = n - 3, kk_buf_puts(&b, ".html");
  }
  return b.p;
}

/* Where a page appears in the navigation, and in which language. */
static void classify(site_page_t *p) {
  static const char *const betrieb[] = {"recipes", "storage", "dashboard",
                                        "alerts",  "export",  "calculators"};
  static const char *const kommune[] = {
      "README",  "einstieg",    "datenschutz-und-recht", "beteiligung",
      "betrieb", "beschaffung", "erfahrungen",           "playbook-vorlage"};
  const char *base = strrchr(p->src, '/');
  base = base ? base + 1 : p->src;
  size_t bl = strcspn(base, ".");
  p->lang = "en";
  p->group = SITE_OTHER;
  p->rank = 100;
  if (strcmp(p->src, SITE_START_SRC) == 0) {
    p->group = SITE_START, p->lang = "de", p->rank = -1;
  } else if (strcmp(p->src, "docs/README.md") == 0) {
    p->group = SITE_START;
  } else if (has_prefix(p->src, "docs/kommune/")) {
    p->group = SITE_KOMMUNE, p->lang = "de";
    for (int i = 0; i < (int)(sizeof kommune / sizeof *kommune); i++)
      if (strlen(kommune[i]) == bl && strncmp(base, kommune[i], bl) == 0)
        p->rank = i;
  } else if (p->recipe) {
    p->group = SITE_RECIPES, p->lang = "de";
  } else if (has_prefix(p->src, "docs/guide/")) {
    p->group = SITE_INTEGRATION;
    for (int i = 0; i < (int)(sizeof betrieb / sizeof *betrieb); i++)
      if (strlen(betrieb[i]) == bl && strncmp(base, betrieb[i], bl) == 0)
        p->group = SITE_BETRIEB, p->rank = i;
  } else if (has_prefix(p->src, "docs/dev/")) {
    p->group = SITE_INTEGRATION, p->rank = 200;
  } else if (has_prefix(p->src, "docs/reference/")) {
    p->group = SITE_REFERENZ;
  }
}

site_page_t *site_add_page(site_t *s, const char *src, char *md) {
  if (site_find(s, src)) {
    free(md);
    return NULL;
  }
  site_page_t *p = calloc(1, sizeof *p);
  site_page_t **np = realloc(s->pages, (s->npages + 1) * sizeof *np);
  if (!p || !np) {
    free(p), free(md);
    if (np) s->pages = np;
    s->errors++;
    return NULL;
  }
  s->pages = np;
  s->pages[s->npages++] = p;
  p->src = strdup(src);
  p->out = site_out_path(src);
  p->md = md;
  size_t n = strlen(src);
  if (has_prefix(src, "recipes/") && n > 12 &&
      strcmp(src + n - 12, "/playbook.md") == 0) {
    kk_buf_t r = {0};
    kk_buf_put(&r, src, n - 11);
    kk_buf_puts(&r, "recipe.lua");
    p->recipe = r.p;
  }
  classify(p);
  site_parse(s, p);
  return p;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted, visible entries of a repository folder (caller frees). */
static char **list_dir(const char *root, const char *rel, size_t *n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  DIR *d = opendir(path);
  char **v = NULL;
  *n = 0;
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char **nv = realloc(v, (*n + 1) * sizeof *v);
    if (!nv) break;
    v = nv;
    v[(*n)++] = strdup(de->d_name);
  }
  if (d) closedir(d);
  if (v) qsort(v, *n, sizeof *v, cmp_str);
  return v;
}

static int is_dir(const char *root, const char *rel) {
  char path[4096];
  struct stat st;
  int n = snprintf(path, sizeof path, "%s/%s", root, rel);
  return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 &&
         S_ISDIR(st.st_mode);
}

static void add_file_page(site_t *s, const char *rel) {
  size_t len;
  char *md = site_read(s->root, rel, &len);
  if (!md)
    site_error(s, rel, 1, "cannot read: %s", strerror(errno));
  else
    site_add_page(s, rel, md);
}

static void collect_docs(site_t *s, const char *rel) {
  size_t n;
  char **names = list_dir(s->root, rel, &n);
  for (size_t i = 0; i < n; i++) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", rel, names[i]);
    size_t l = strlen(names[i]);
    if (is_dir(s->root, sub))
      collect_docs(s, sub);
    else if (l > 3 && strcmp(names[i] + l - 3, ".md") == 0 &&
             strcmp(sub, "docs/reference/modules.md") != 0)
      add_file_page(s, sub);
    free(names[i]);
  }
  free(names);
}

static void collect_playbooks(site_t *s) {
  size_t n;
  char **names = list_dir(s->root, "recipes", &n);
  for (size_t i = 0; i < n; i++) {
    char pb[4096];
    char full[8192];
    snprintf(pb, sizeof pb, "recipes/%.200s/playbook.md", names[i]);
    snprintf(full, sizeof full, "%s/%s", s->root, pb);
    char lua[8192];
    snprintf(lua, sizeof lua, "%s/recipes/%.200s/recipe.lua", s->root,
             names[i]);
    if (access(full, R_OK) == 0)
      add_file_page(s, pb);
    else if (access(lua, F_OK) == 0)
      site_error(s, pb, 1,
                 "missing: every recipe folder has a playbook.md "
                 "(docs/kommune/playbook-vorlage.md)");
    free(names[i]);
  }
  free(names);
}

/* The module reference, written by `klimakit modules --format markdown`
 * (core/doc.c) into a temporary file that stands in for stdout. */
static char *module_reference(void) {
  FILE *tmp = tmpfile();
  if (!tmp) return NULL;
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  if (saved < 0 || dup2(fileno(tmp), STDOUT_FILENO) < 0) {
    if (saved >= 0) close(saved);
    fclose(tmp);
    return NULL;
  }
  char *argv[] = {"modules", "--format", "markdown", NULL};
  int rc = kk__cmd_modules(3, argv);
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  kk_buf_t b = {0};
  char buf[16384];
  size_t n;
  rewind(tmp);
  while ((n = fread(buf, 1, sizeof buf, tmp)) > 0)
    kk_buf_put(&b, buf, n);
  fclose(tmp);
  if (rc != 0 || b.oom || !b.p) {
    kk_buf_free(&b);
    return NULL;
  }
  return b.p;
}

/* The start page (German): every page of the navigation by audience, as
 * Markdown with links relative to docs/, so that they are checked and
 * rewritten like any other page's. */
static void start_page(site_t *s) {
  site_page_t **v = site_sorted_pages(s);
  if (!v) return;
  kk_buf_t md = {0};
  kk_buf_puts(
      &md, "# klimakit – Dokumentation\n\n"
           "klimakit ist ein Baukasten für kommunalen Klimaschutz mit Daten: "
           "Sensoren und offene Daten hinein, CO2- und Luftwerte, Bilanzen, "
           "Maßnahmen und Dashboards heraus. Die Seiten sind nach Leserinnen "
           "und Lesern geordnet; was Kommunen lesen, ist auf Deutsch, die "
           "technische Referenz für Betrieb und Entwicklung auf Englisch "
           "(markiert mit EN). Suchen: das Feld oben oder die Taste `/`; jede "
           "Seite lässt sich drucken.\n");
  int open = -1;
  for (size_t i = 0; v[i]; i++) {
    if (v[i]->group == SITE_START) continue;
    if ((int)v[i]->group != open) {
      open = (int)v[i]->group;
      kk_buf_printf(&md, "\n## %s\n\n%s%s", site_group_label[open],
                    site_group_hint[open],
                    site_group_hint[open][0] ? "\n\n" : "");
    }
    kk_buf_puts(&md, "- [");
    for (const char *c = v[i]->title; *c; c++)
      kk_buf_printf(&md, "%s%c", strchr("[]\\`*_", *c) ? "\\" : "", *c);
    kk_buf_printf(&md, "](%s%s)%s\n",
                  has_prefix(v[i]->src, "docs/") ? "" : "../",
                  v[i]->src + (has_prefix(v[i]->src, "docs/") ? 5 : 0),
                  strcmp(v[i]->lang, "de") ? " (EN)" : "");
  }
  free(v);
  if (md.oom) {
    kk_buf_free(&md);
    s->errors++;
    return;
  }
  site_add_page(s, SITE_START_SRC, md.p);
}

static void progress(site_t *s, size_t i, size_t n, const char *what) {
  if (!s->tty) return;
  fprintf(stderr, "\r\033[Kdocs: [%zu/%zu] %s", i, n, what);
  fflush(stderr);
}

static void site_free(site_t *s) {
  for (size_t i = 0; i < s->npages; i++)
    site_page_free(s->pages[i]);
  free(s->pages);
  for (size_t i = 0; i < s->nfiles; i++)
    free(s->files[i]);
  free(s->files);
  if (s->exts) cmark_llist_free(cmark_get_default_mem_allocator(), s->exts);
}

static int copy_files(site_t *s) {
  for (size_t i = 0; i < s->nfiles; i++) {
    size_t len;
    char *data = site_read(s->root, s->files[i], &len);
    char *out = site_out_path(s->files[i]);
    if (!data)
      site_error(s, s->files[i], 1, "cannot read: %s", strerror(errno));
    else
      site_write(s, out, data, len);
    free(data), free(out);
  }
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st, (void)flag;
  if (ftw->level == 0) return 0; /* the folder itself stays */
  return remove(path) == 0 ? 0 : -1;
}

/* The output folder empty: a site built before (it has the marker file)
 * is removed, so that pages deleted from docs/ leave no stale copy; any
 * other folder that is not empty is refused. */
static int prepare_out(site_t *s) {
  char marker[4096];
  snprintf(marker, sizeof marker, "%s/.klimakit-site", s->out);
  DIR *d = opendir(s->out);
  if (!d) return 0; /* made by the first write */
  int used = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) used = 1;
  closedir(d);
  if (!used) return 0;
  if (access(marker, F_OK) != 0) {
    fprintf(stderr,
            "klimakit: %s is not empty and holds no site built by klimakit "
            "(.klimakit-site): choose another --out\n",
            s->out);
    return -1;
  }
  if (nftw(s->out, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    fprintf(stderr, "klimakit: cannot empty %s: %s\n", s->out, strerror(errno));
    return -1;
  }
  return 0;
}

static void setup_extensions(site_t *s) {
  static const char *const names[] = {"table", "tasklist", "strikethrough",
                                      "autolink"};
  cmark_gfm_core_extensions_ensure_registered();
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    cmark_syntax_extension *e = cmark_find_syntax_extension(names[i]);
    if (e)
      s->exts =
          cmark_llist_append(cmark_get_default_mem_allocator(), s->exts, e);
  }
}

static int build(site_t *s) {
  setup_extensions(s);
  collect_docs(s, "docs");
  collect_playbooks(s);
  char *ref = module_reference();
  if (!ref) {
    fprintf(stderr, "klimakit: the module reference could not be made\n");
    return 1;
  }
  site_add_page(s, "docs/reference/modules.md", ref);
  start_page(s);
  /* Resolving may add pages (Markdown files outside docs/ that a page
   * links to): they are resolved in turn. */
  for (size_t i = 0; i < s->npages; i++) {
    progress(s, i + 1, s->npages, s->pages[i]->src);
    if (s->pages[i]->recipe) site_check_playbook(s, s->pages[i]);
    site_check_references(s, s->pages[i]);
    site_resolve_links(s, s->pages[i]);
  }
  if (s->errors) return 1;
  if (prepare_out(s) != 0) return s->errors++, 1;
  for (size_t i = 0; i < s->npages; i++) {
    progress(s, i + 1, s->npages, s->pages[i]->out);
    site_render_page(s, s->pages[i]);
  }
  copy_files(s);
  site_write_assets(s);
  site_write_search_index(s);
  return s->errors ? 1 : 0;
}

int kk__cmd_docs(int argc, char **argv) {
  const char *out = "build/site", *root = ".";
  int i = 1;
  if (argc < 2 || strcmp(argv[1], "build") != 0) {
    int help =
        argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
    fputs(docs_help, help ? stdout : stderr);
    return help ? 0 : 2;
  }
  for (i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
      out = argv[++i];
    else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
      root = argv[++i];
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
      return fputs(docs_help, stdout), 0;
    else
      return fprintf(stderr, "klimakit: unknown argument %s\n%s", argv[i],
                     docs_help),
             2;
  }
  if (!is_dir(root, "docs")) {
    fprintf(stderr, "klimakit: %s/docs: no such folder (use --root)\n", root);
    return 2;
  }
  site_t s = {.root = root, .out = out, .tty = isatty(STDERR_FILENO)};
  int rc = build(&s);
  if (s.tty) fputs("\r\033[K", stderr);
  if (rc == 0)
    fprintf(stderr, "docs: %zu pages and %zu files written to %s\n", s.npages,
            s.nfiles, out);
  else
    fprintf(stderr, "docs: %d error%s, site not written completely\n", s.errors,
            s.errors == 1 ? "" : "s");
  site_free(&s);
  return rc;
}
