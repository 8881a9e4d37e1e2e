/*
 * modules/publish/http/http_files.c - downloads: the `files` option
 * serves the files of a directory under a path ("/daten/" -> a folder of
 * CSV, JSON and GeoJSON), as they are, for open-data downloads, a map
 * layer other tools read, or sample data a recipe polls from itself (the
 * luft-verkehr recipe serves UBA API responses this way when no real
 * endpoint is configured).  Nothing outside the directory is reachable
 * (realpath), directories are not listed, files above 16 MiB are refused.
 * Runs on the loop thread.
 */
#include "publish/http/http_model.h"

#include <cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HTTP_FILES_MAX (16u << 20)

int http_files_init(http_state_t *s, const char *json) {
  if (!json) return 0;
  cJSON *o = cJSON_Parse(json);
  int rc = cJSON_IsObject(o) ? 0 : KK_EINVAL;
  for (const cJSON *e = o ? o->child : NULL; !rc && e; e = e->next) {
    size_t n = strlen(e->string);
    char real[PATH_MAX];
    if (s->nfiles >= HTTP_MAX_FILE_DIRS || n < 2 || e->string[0] != '/' ||
        e->string[n - 1] != '/' || !cJSON_IsString(e) ||
        !realpath(e->valuestring, real)) {
      kk_stage_error(s->st,
                     "files: { [\"/daten/\"] = \"existing directory\" } (at "
                     "most %d; '%s' is not)",
                     HTTP_MAX_FILE_DIRS, e->string);
      rc = KK_EINVAL;
      break;
    }
    s->files[s->nfiles].prefix = strdup(e->string);
    s->files[s->nfiles].root = strdup(real);
    s->nfiles++;
  }
  if (!o) kk_stage_error(s->st, "files: a table of path prefix = directory");
  cJSON_Delete(o);
  return rc;
}

void http_files_free(http_state_t *s) {
  for (size_t i = 0; i < s->nfiles; i++) {
    free(s->files[i].prefix);
    free(s->files[i].root);
  }
  s->nfiles = 0;
}

static const char *http_file_type(const char *name) {
  static const char *const t[][2] = {{".json", "application/json"},
                                     {".geojson", "application/geo+json"},
                                     {".csv", "text/csv; charset=utf-8"},
                                     {".txt", "text/plain; charset=utf-8"},
                                     {".xml", "application/xml"},
                                     {".png", "image/png"},
                                     {".svg", "image/svg+xml"}};
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof t / sizeof *t; i++)
    if (strcmp(dot, t[i][0]) == 0) return t[i][1];
  return "application/octet-stream";
}

int http_files_serve(http_state_t *s, h2o_req_t *req, const char *path) {
  for (size_t i = 0; i < s->nfiles; i++) {
    size_t n = strlen(s->files[i].prefix);
    if (strncmp(path, s->files[i].prefix, n) != 0) continue;
    char want[PATH_MAX * 2], real[PATH_MAX];
    snprintf(want, sizeof want, "%s/%s", s->files[i].root, path + n);
    size_t rl = strlen(s->files[i].root);
    struct stat st;
    if (!realpath(want, real) || strncmp(real, s->files[i].root, rl) != 0 ||
        (real[rl] != '/' && real[rl] != 0) || stat(real, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size > (off_t)HTTP_FILES_MAX) {
      http_page_not_found(s, req, HTTP_M_no_document);
      return 1;
    }
    FILE *f = fopen(real, "rb");
    kk_buf_t b = {0};
    char chunk[65536];
    size_t got;
    while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
      kk_buf_put(&b, chunk, got);
    if (f) fclose(f);
    if (!f) {
      kk_buf_free(&b);
      http_page_not_found(s, req, HTTP_M_document_unreadable);
      return 1;
    }
    http_respond(s, req, 200, http_file_type(real), &b);
    return 1;
  }
  return 0;
}
