/*
 * modules/publish/http/http_docs.c - publish.http's /docs: the static
 * documentation site that `klimakit docs build` (make docs) writes,
 * served file by file.  Nothing is rendered here and nothing outside the
 * site is reachable.  Runs on the loop thread.
 *
 * The site is docs_dir itself when it holds a built site (the marker
 * file .klimakit-site), its html/ (the installed share/doc/klimakit), or,
 * when docs_dir names a source tree's docs/ folder (as recipes/demo.lua
 * does), that tree's build/site.  Without a
 * built site /docs says so and how to build it (Markdown is no longer
 * rendered on the fly); plain files of docs_dir are still served.
 */
#include "publish/http/http_model.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTTP_DOCS_MARKER ".klimakit-site"

static const char *http_content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {{".html", "text/html; charset=utf-8"},
               {".css", "text/css; charset=utf-8"},
               {".js", "text/javascript; charset=utf-8"},
               {".json", "application/json"},
               {".png", "image/png"},
               {".svg", "image/svg+xml"},
               {".jpg", "image/jpeg"},
               {".txt", "text/plain; charset=utf-8"},
               {".md", "text/plain; charset=utf-8"},
               {".lua", "text/plain; charset=utf-8"},
               {".sh", "text/plain; charset=utf-8"},
               {".c", "text/plain; charset=utf-8"},
               {".h", "text/plain; charset=utf-8"},
               {".csv", "text/csv; charset=utf-8"},
               {".geojson", "application/geo+json"},
               {".pdf", "application/pdf"}};
  const char *dot = strrchr(name, '/');
  dot = strrchr(dot ? dot : name, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
    if (strcmp(dot, types[i].ext) == 0) return types[i].type;
  return "text/plain; charset=utf-8";
}

static int http_read_file(const char *path, kk_buf_t *b) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char buf[16384];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    kk_buf_put(b, buf, n);
  fclose(f);
  if (!b->p) kk_buf_puts(b, "");
  return 0;
}

static int http_docs_is_site(const char *dir) {
  char m[PATH_MAX];
  int n = snprintf(m, sizeof m, "%s/" HTTP_DOCS_MARKER, dir);
  return n > 0 && (size_t)n < sizeof m && access(m, R_OK) == 0;
}

/* The realpath of the built site into site[PATH_MAX]; 0, or -1 when
 * there is none (tried[] then names where it was looked for). */
static int http_docs_site(const http_state_t *s, char *site, char *tried,
                          size_t tlen) {
  /* docs_dir itself, the installed layout (share/doc/klimakit/html) and
   * a source tree's docs/ -> build/site. */
  static const char *const rel[] = {"", "/html", "/../build/site"};
  size_t used = 0;
  tried[0] = 0;
  for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
    char cand[PATH_MAX];
    int n = snprintf(cand, sizeof cand, "%s%s", s->docs_root, rel[i]);
    if (n < 0 || (size_t)n >= sizeof cand) continue;
    if (realpath(cand, site) && http_docs_is_site(site)) return 0;
    int w = snprintf(tried + used, tlen - used, "%s%s", used ? ", " : "", cand);
    if (w > 0 && (size_t)w < tlen - used) used += (size_t)w;
  }
  return -1;
}

#ifndef KK_DATADIR
#define KK_DATADIR "/usr/local/share/klimakit"
#endif

char *http_docs_default_root(void) {
  /* The installed site (make install, the package), then the site of the
   * source tree whose binary runs (build/klimakit -> build/site). */
  char cand[PATH_MAX], real[PATH_MAX];
  snprintf(cand, sizeof cand, "%s", KK_DATADIR "/docs/html");
  if (realpath(cand, real) && http_docs_is_site(real)) return strdup(real);
  ssize_t n = readlink("/proc/self/exe", cand, sizeof cand - 8);
  if (n <= 0) return NULL;
  cand[n] = 0;
  char *slash = strrchr(cand, '/');
  if (!slash) return NULL;
  strcpy(slash, "/site");
  if (realpath(cand, real) && http_docs_is_site(real)) return strdup(real);
  return NULL;
}

static void http_docs_not_built(http_state_t *s, h2o_req_t *req,
                                const char *tried) {
  kk_buf_t b = {0};
  const char *title = http_t(&s->reg, HTTP_M_docs_not_built_title);
  http_page_head(s, &b, title, 0);
  kk_buf_puts(&b, "<h2>");
  kk_buf_html(&b, title);
  kk_buf_puts(&b, "</h2><p>");
  http_say(&b, &s->reg, 1, HTTP_M_docs_not_built, NULL);
  kk_buf_puts(&b, "</p><pre><code>make docs\nklimakit docs build --out "
                  "DIR</code></pre><p>");
  http_say(&b, &s->reg, 1, HTTP_M_docs_looked_in, tried, NULL);
  kk_buf_puts(&b, "</p>");
  http_page_tail(s, &b);
  http_respond(s, req, 503, "text/html; charset=utf-8", &b);
}

/* /docs -> /docs/: the site's links are relative to the folder. */
static void http_docs_redirect(http_state_t *s, h2o_req_t *req) {
  kk_buf_t b = {0};
  kk_buf_puts(&b, "<a href=\"/docs/\">/docs/</a>\n");
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                 H2O_STRLIT("/docs/"));
  http_respond(s, req, 301, "text/html; charset=utf-8", &b);
}

/* The file under `site` that `rel` names (a folder: its index.html), as
 * a realpath that stays inside the site; -1 when there is none. */
static int http_docs_file(const char *site, const char *rel, char *real) {
  char want[PATH_MAX];
  int n = snprintf(want, sizeof want, "%s/%s", site, rel);
  size_t sl = strlen(site);
  if (n < 0 || (size_t)n >= sizeof want || !realpath(want, real) ||
      strncmp(real, site, sl) != 0 || (real[sl] && real[sl] != '/'))
    return -1;
  struct stat st;
  if (stat(real, &st) != 0) return -1;
  if (S_ISDIR(st.st_mode)) {
    size_t rl = strlen(real);
    if (rl + sizeof "/index.html" > PATH_MAX) return -1;
    memcpy(real + rl, "/index.html", sizeof "/index.html");
    if (stat(real, &st) != 0) return -1;
  }
  return S_ISREG(st.st_mode) ? 0 : -1;
}

static int http_docs_is_md(const char *p) {
  size_t n = strlen(p);
  return n > 3 && strcmp(p + n - 3, ".md") == 0;
}

void http_serve_docs(http_state_t *s, h2o_req_t *req, const char *path) {
  char site[PATH_MAX], tried[3 * PATH_MAX + 8], real[PATH_MAX];
  if (strcmp(path, "/docs") == 0) {
    http_docs_redirect(s, req);
    return;
  }
  const char *rel = path[5] ? path + 6 : "";
  int built = http_docs_site(s, site, tried, sizeof tried) == 0;
  /* Not built: the folder's plain files (pictures, pages someone put
   * there) are still served, but no Markdown and no folder: those are
   * what the site renders. */
  if (!built) snprintf(site, sizeof site, "%s", s->docs_root);
  int found = !strstr(path, "/.") && http_docs_file(site, rel, real) == 0;
  if (!built && (!rel[0] || rel[strlen(rel) - 1] == '/' ||
                 http_docs_is_md(rel) || (found && http_docs_is_md(real)))) {
    http_docs_not_built(s, req, tried);
    return;
  }
  if (!found) {
    http_page_not_found(s, req, HTTP_M_no_document);
    return;
  }
  kk_buf_t raw = {0};
  if (http_read_file(real, &raw) != 0) {
    kk_buf_free(&raw);
    http_page_not_found(s, req, HTTP_M_document_unreadable);
    return;
  }
  http_respond(s, req, 200, http_content_type(real), &raw);
}
