/*
 * core/site_links.c - every link of a page resolved against the
 * repository and rewritten to what the site holds: a Markdown file to
 * its page, a folder to its README or a generated folder view, any other
 * file of the repository to a copy of it.  See site.h.
 */
#include "site.h"

#include <cmark-gfm.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Joins `dir` and `rel` and removes "." and ".." components; NULL when
 * the result would leave the repository. */
static char *normalize(const char *dir, const char *rel) {
  char buf[4096];
  int len = snprintf(buf, sizeof buf, "%s%s%s", dir, dir[0] ? "/" : "", rel);
  if (len < 0 || (size_t)len >= sizeof buf) return NULL;
  char *parts[256];
  size_t n = 0;
  for (char *save = NULL, *t = strtok_r(buf, "/", &save); t;
       t = strtok_r(NULL, "/", &save)) {
    if (strcmp(t, ".") == 0) continue;
    if (strcmp(t, "..") == 0) {
      if (n == 0) return NULL;
      n--;
    } else if (n < 256)
      parts[n++] = t;
  }
  kk_buf_t b = {0};
  for (size_t i = 0; i < n; i++)
    kk_buf_printf(&b, "%s%s", i ? "/" : "", parts[i]);
  if (!b.p) kk_buf_puts(&b, "");
  return b.p;
}

char *site_relpath(const char *from_out, const char *to_out) {
  /* Skip the common folders, then one ".." per folder left in from. */
  size_t common = 0;
  for (size_t i = 0; from_out[i] && from_out[i] == to_out[i]; i++)
    if (from_out[i] == '/') common = i + 1;
  kk_buf_t b = {0};
  for (const char *c = from_out + common; *c; c++)
    if (*c == '/') kk_buf_puts(&b, "../");
  kk_buf_puts(&b, to_out + common);
  if (b.len == 0) kk_buf_puts(&b, "./");
  return b.p;
}

int site_add_file(site_t *s, const char *src) {
  for (size_t i = 0; i < s->nfiles; i++)
    if (strcmp(s->files[i], src) == 0) return 0;
  char **nf = realloc(s->files, (s->nfiles + 1) * sizeof *nf);
  if (!nf) return s->errors++, -1;
  s->files = nf;
  s->files[s->nfiles++] = strdup(src);
  return 0;
}

static int path_kind(site_t *s, const char *rel) {
  char path[4096];
  struct stat st;
  int n = snprintf(path, sizeof path, "%s/%s", s->root, rel);
  if (n < 0 || (size_t)n >= sizeof path || stat(path, &st) != 0) return 0;
  return S_ISDIR(st.st_mode) ? 2 : 1;
}

static int is_md(const char *p) {
  size_t n = strlen(p);
  return n > 3 && strcmp(p + n - 3, ".md") == 0;
}

/* A page for a Markdown file outside the collected ones. */
static site_page_t *page_for(site_t *s, const char *src) {
  site_page_t *p = site_find(s, src);
  if (p) return p;
  size_t len;
  char *md = site_read(s->root, src, &len);
  return md ? site_add_page(s, src, md) : NULL;
}

/* A generated view of a folder without README.md: its files, copied. */
static site_page_t *folder_view(site_t *s, const char *dir) {
  kk_buf_t src = {0};
  kk_buf_printf(&src, "%s/", dir);
  site_page_t *p = site_find(s, src.p);
  if (p) return kk_buf_free(&src), p;
  kk_buf_t md = {0};
  kk_buf_printf(&md, "# %s/\n\n", dir);
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", s->root, dir);
  DIR *d = opendir(path);
  struct dirent *de;
  char *names[1024];
  size_t n = 0;
  while (d && (de = readdir(d)) && n < 1024)
    if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
  if (d) closedir(d);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (strcmp(names[j], names[i]) < 0) {
        char *t = names[i];
        names[i] = names[j], names[j] = t;
      }
  for (size_t i = 0; i < n; i++) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
    /* Sub-folders are named, not followed: a view never pulls in a
     * whole tree. */
    if (path_kind(s, sub) == 2)
      kk_buf_printf(&md, "- `%s/`\n", names[i]);
    else
      kk_buf_printf(&md, "- [%s](%s)\n", names[i], names[i]);
    free(names[i]);
  }
  p = site_add_page(s, src.p, md.p);
  if (p) {
    kk_buf_t o = {0};
    kk_buf_printf(&o, "%sindex.html", p->out);
    free(p->out);
    p->out = o.p;
    p->listing = strdup(dir);
  }
  kk_buf_free(&src);
  return p;
}

static site_page_t *folder_target(site_t *s, const char *dir) {
  static const char *const index[] = {"README.md", "index.md"};
  for (size_t i = 0; i < 2; i++) {
    char f[4096];
    snprintf(f, sizeof f, "%s%s%s", dir, dir[0] ? "/" : "", index[i]);
    if (path_kind(s, f) == 1) return page_for(s, f);
  }
  return folder_view(s, dir);
}

/* The site path a repository path resolves to; NULL with an error. */
static char *resolve_target(site_t *s, const site_page_t *p, int line,
                            const char *url, const char *path,
                            const site_page_t **tp) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", p->listing ? p->listing : p->src);
  if (!p->listing) {
    char *slash = strrchr(dir, '/');
    *(slash ? slash : dir) = 0;
  }
  char *target = normalize(dir, path);
  if (!target) {
    site_error(s, p->src, line, "link '%s' leaves the repository", url);
    return NULL;
  }
  int kind = path_kind(s, target);
  char *out = NULL;
  const site_page_t *known = site_find(s, target);
  if (known) {
    *tp = known;
    out = strdup(known->out);
  } else if (kind == 0) {
    site_error(s, p->src, line, "broken link '%s': %s does not exist", url,
               target);
  } else if (kind == 2 || is_md(target)) {
    *tp = kind == 2 ? folder_target(s, target) : page_for(s, target);
    if (*tp) out = strdup((*tp)->out);
  } else {
    site_add_file(s, target);
    out = site_out_path(target);
  }
  free(target);
  return out;
}

static int is_external(const char *url) {
  size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
  return n > 0 && url[n] == ':';
}

/* Decodes %XX in place (a link may be written encoded or not). */
static void percent_decode(char *u) {
  char *w = u;
  for (const char *r = u; *r; r++) {
    unsigned v;
    if (r[0] == '%' && r[1] && r[2] && sscanf(r + 1, "%2x", &v) == 1) {
      *w++ = (char)v;
      r += 2;
    } else
      *w++ = *r;
  }
  *w = 0;
}

static void resolve_link(site_t *s, site_page_t *p, const site_link_t *l) {
  const char *url = cmark_node_get_url(l->node);
  if (!url || !url[0]) {
    site_error(s, p->src, l->line, "link without a target");
    return;
  }
  if (is_external(url)) return;
  if (url[0] == '/') {
    site_error(s, p->src, l->line,
               "link '%s' is absolute: write it relative to this file", url);
    return;
  }
  char *u = strdup(url);
  char *hash = strchr(u, '#');
  if (hash) *hash++ = 0;
  percent_decode(u);
  if (hash) percent_decode(hash);
  const site_page_t *tp = p;
  char *out = u[0] ? resolve_target(s, p, l->line, url, u, &tp) : NULL;
  if (u[0] && !out) {
    free(u);
    return;
  }
  if (hash && tp && !site_has_anchor(tp, hash))
    site_error(s, p->src, l->line,
               "broken anchor '%s': %s has no heading '#%s'", url, tp->src,
               hash);
  kk_buf_t nu = {0};
  if (out) {
    char *rel = site_relpath(p->out, out);
    kk_buf_puts(&nu, rel);
    free(rel);
  }
  if (hash) kk_buf_printf(&nu, "#%s", hash);
  cmark_node_set_url(l->node, nu.p ? nu.p : "");
  kk_buf_free(&nu);
  free(out), free(u);
}

void site_resolve_links(site_t *s, site_page_t *p) {
  for (size_t i = 0; i < p->nlinks; i++)
    resolve_link(s, p, &p->links[i]);
  (void)errno;
}
