/*
 * modules/publish/http/http_docs.c - publish.http's /docs: the files of
 * docs_dir, Markdown rendered to HTML in the dashboard's frame, folders
 * as listings.  Nothing outside docs_dir is reachable.  Runs on the loop
 * thread.
 */
#include "publish/http/http_model.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "publish/http/http_markdown.h"

static const char *http_content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {{".html", "text/html; charset=utf-8"},
               {".css", "text/css"},
               {".png", "image/png"},
               {".svg", "image/svg+xml"},
               {".jpg", "image/jpeg"},
               {".txt", "text/plain; charset=utf-8"},
               {".lua", "text/plain; charset=utf-8"},
               {".csv", "text/csv; charset=utf-8"},
               {".json", "application/json"},
               {".pdf", "application/pdf"}};
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
    if (strcmp(dot, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

static int http_read_file(const char *path, kk_buf_t *b) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char buf[16384];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    kk_buf_put(b, buf, n);
  fclose(f);
  return 0;
}

static int http_cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void http_serve_docs(http_state_t *s, h2o_req_t *req, const char *path) {
  /* Resolve inside the root only: realpath() removes "..", symlinks and
   * percent-decoded tricks alike, and the result must stay under root. */
  char want[PATH_MAX], real[PATH_MAX];
  snprintf(want, sizeof want, "%s/%s", s->docs_root, path + 5);
  size_t rl = strlen(s->docs_root);
  if (!realpath(want, real) ||
      (strncmp(real, s->docs_root, rl) != 0 || (real[rl] && real[rl] != '/'))) {
    http_page_not_found(s, req, HTTP_M_no_document);
    return;
  }
  struct stat stt;
  if (stat(real, &stt) != 0) {
    http_page_not_found(s, req, HTTP_M_no_document);
    return;
  }
  kk_buf_t b = {0};
  if (S_ISDIR(stt.st_mode)) {
    char idx[PATH_MAX];
    int il = snprintf(idx, sizeof idx, "%s/index.md", real);
    if (il > 0 && (size_t)il < sizeof idx && access(idx, R_OK) == 0) {
      memcpy(real, idx, (size_t)il + 1);
    } else {
      DIR *d = opendir(real);
      char *names[512];
      size_t n = 0;
      struct dirent *de;
      while (d && (de = readdir(d)) && n < 512)
        if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
      if (d) closedir(d);
      qsort(names, n, sizeof *names, http_cmp_name);
      http_page_head(s, &b, http_t(&s->reg, HTTP_M_nav_docs), 0);
      kk_buf_puts(&b, "<h2>");
      kk_buf_html(&b, http_t(&s->reg, HTTP_M_nav_docs));
      kk_buf_puts(&b, "</h2><ul>");
      const char *rel = real + rl;
      for (size_t i = 0; i < n; i++) {
        if (!names[i]) continue;
        kk_buf_printf(&b, "<li><a href=\"/docs%s/", rel);
        kk_buf_url(&b, names[i]);
        kk_buf_puts(&b, "\">");
        kk_buf_html(&b, names[i]);
        kk_buf_puts(&b, "</a></li>");
        free(names[i]);
      }
      kk_buf_puts(&b, "</ul>");
      http_page_tail(s, &b);
      http_respond(s, req, 200, "text/html; charset=utf-8", &b);
      return;
    }
  }
  kk_buf_t raw = {0};
  if (http_read_file(real, &raw) != 0) {
    kk_buf_free(&raw);
    http_page_not_found(s, req, HTTP_M_document_unreadable);
    return;
  }
  size_t len = strlen(real);
  if (len > 3 && strcmp(real + len - 3, ".md") == 0) {
    char *html = http_markdown_html(raw.p ? raw.p : "", raw.len);
    const char *title = strrchr(real, '/') + 1;
    http_page_head(s, &b, title, 0);
    kk_buf_puts(&b, "<nav><a href=\"/docs/\">");
    kk_buf_html(&b, http_t(&s->reg, HTTP_M_back_docs));
    kk_buf_puts(&b, "</a></nav><article>");
    if (html)
      kk_buf_puts(&b, html);
    else
      b.oom = 1;
    kk_buf_puts(&b, "</article>");
    http_page_tail(s, &b);
    free(html);
    kk_buf_free(&raw);
    http_respond(s, req, 200, "text/html; charset=utf-8", &b);
    return;
  }
  http_respond(s, req, 200, http_content_type(real), &raw);
}
