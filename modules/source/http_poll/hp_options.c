/*
 * modules/source/http_poll/hp_options.c - the options of source.http_poll
 * (the table `klimakit modules` prints) and the request headers built
 * from them, secrets included: those come from the environment or files,
 * never from the recipe text.
 */
#include "source/http_poll/http_poll.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const kk_option_t hp_options[] = {
    {.name = "url",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description =
         "Request URL template (http or https).  {from} and {to} are the "
         "window's bounds, formatted by `time_format`; {from:FMT} and "
         "{to:FMT} choose a format per placeholder (iso, iso_ms, epoch, "
         "epoch_ms, date or a strftime-like pattern such as %Y-%m-%d); "
         "values are percent-encoded; {{ and }} are braces."},
    {.name = "body",
     .type = KK_OPT_STRING,
     .description =
         "Request body template: with it the request is a POST (APIs such "
         "as Telraam's reports/traffic take their window in a JSON body). "
         "{from}/{to}/{from:FMT}/{to:FMT} as in `url` (other braces are "
         "text), escaped for a JSON string when `body_type` is JSON.  "
         "Conditional requests are off for POSTs, "
         "and `dedup = \"url\"` is refused (every window has the same URL)."},
    {.name = "body_type",
     .type = KK_OPT_STRING,
     .def = "application/json",
     .description = "Content-Type of the `body`."},
    {.name = "every",
     .type = KK_OPT_DURATION,
     .def = "5m",
     .description = "How often to poll.  A poll fetches every complete "
                    "window since the cursor, one after another."},
    {.name = "jitter",
     .type = KK_OPT_DURATION,
     .description = "Random delay of up to this much added to each poll, so "
                    "that many nodes do not hit an API at the same instant "
                    "(default: a tenth of `every`)."},
    {.name = "window",
     .type = KK_OPT_DURATION,
     .def = "0s",
     .description =
         "Length of a time window [from, to).  0s: each poll asks for "
         "everything since the cursor, [cursor, now - lag)."},
    {.name = "start",
     .type = KK_OPT_STRING,
     .description =
         "Where the cursor starts when there is none yet: an ISO 8601 time "
         "(2026-11-01T00:00:00Z) or a duration before now (7d, aligned to "
         "`window`).  Default: the last complete window (window > 0) or one "
         "`every` ago.  Ignored once a cursor is saved."},
    {.name = "lag",
     .type = KK_OPT_DURATION,
     .def = "0s",
     .description = "A window is fetched only once its end is this long "
                    "past (for APIs that publish late)."},
    {.name = "time_format",
     .type = KK_OPT_STRING,
     .def = "iso",
     .description = "Default format of {from} and {to}: iso "
                    "(2026-11-01T00:00:00Z), iso_ms, epoch (seconds), "
                    "epoch_ms, date, or a strftime-like pattern."},
    {.name = "tz",
     .type = KK_OPT_STRING,
     .def = "UTC",
     .description = "Time zone of the formatted times: UTC or "
                    "Europe/Berlin (and the other UTC+1 EU zones, CET)."},
    {.name = "headers",
     .type = KK_OPT_TABLE,
     .description = "Request headers that are not secret, as "
                    "{ [\"Accept\"] = \"application/json\" }."},
    {.name = "header_env",
     .type = KK_OPT_TABLE,
     .description = "Secret headers from environment variables: "
                    "{ [\"X-Api-Key\"] = \"TELRAAM_KEY\" } sends the "
                    "variable's value."},
    {.name = "header_file",
     .type = KK_OPT_TABLE,
     .description = "Secret headers from files: "
                    "{ [\"X-Api-Key\"] = \"/etc/klimakit/telraam.key\" } "
                    "sends the file's content (trailing newline removed)."},
    {.name = "bearer_env",
     .type = KK_OPT_STRING,
     .description = "Environment variable holding a token sent as "
                    "Authorization: Bearer."},
    {.name = "bearer_file",
     .type = KK_OPT_STRING,
     .description = "File holding a token sent as Authorization: Bearer."},
    {.name = "next",
     .type = KK_OPT_STRING,
     .description =
         "Paging by a next link in the JSON body: a top-level member "
         "(\"@iot.nextLink\", \"next\") or a JSON pointer (\"/links/next\"); "
         "relative links are resolved against the request."},
    {.name = "link_header",
     .type = KK_OPT_BOOL,
     .def = "false",
     .description = "Paging by the HTTP Link header's rel=\"next\" "
                    "(RFC 8288)."},
    {.name = "page_param",
     .type = KK_OPT_STRING,
     .description = "Paging by a page number: this query parameter is set "
                    "to page_start, page_start + 1, ... until a page has "
                    "fewer than page_size items (or none)."},
    {.name = "offset_param",
     .type = KK_OPT_STRING,
     .description = "Paging by an offset: this query parameter is set to 0, "
                    "then the number of items received so far."},
    {.name = "page_start",
     .type = KK_OPT_INT,
     .def = "1",
     .description = "First page number for page_param."},
    {.name = "page_size",
     .type = KK_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1000000,
     .description = "Items per full page (page_param, offset_param); a "
                    "shorter page is the last.  0: only an empty page ends."},
    {.name = "items",
     .type = KK_OPT_STRING,
     .description = "Member or JSON pointer of the item array (\"value\", "
                    "\"/data/items\"): counted for page_param/offset_param, "
                    "read by format = \"json\".  Default: the body itself."},
    {.name = "max_pages",
     .type = KK_OPT_INT,
     .def = "1000",
     .min = 1,
     .max = 1000000,
     .description = "Most pages fetched for one window (a guard against "
                    "links that never end; logged when reached)."},
    {.name = "rate",
     .type = KK_OPT_STRING,
     .description = "Most requests per time: \"1/s\", \"30/m\", \"1000/d\", "
                    "\"5/10s\" (requests are spaced evenly).  Default: no "
                    "limit."},
    {.name = "timeout",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "Whole request, from connect to the last byte; a "
                    "request that takes longer is retried."},
    {.name = "connect_timeout",
     .type = KK_OPT_DURATION,
     .def = "10s",
     .description = "Connecting (DNS, TCP, TLS)."},
    {.name = "backoff_min",
     .type = KK_OPT_DURATION,
     .def = "1s",
     .description = "First delay after a failed request; doubles per "
                    "failure, with jitter of up to half."},
    {.name = "backoff_max",
     .type = KK_OPT_DURATION,
     .def = "5m",
     .description = "Longest backoff delay."},
    {.name = "retry_after_max",
     .type = KK_OPT_DURATION,
     .def = "1h",
     .description = "A server's Retry-After (429, 503) is honoured up to "
                    "this long."},
    {.name = "conditional",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "Send If-None-Match / If-Modified-Since when a URL is "
                    "asked again; 304 Not Modified journals nothing."},
    {.name = "dedup",
     .type = KK_OPT_ENUM,
     .def = "body",
     .choices = "body|url|off",
     .description = "A body identical to the last journalled one is not "
                    "journalled again (body); url: only when the URL is "
                    "the same too (for decoders that take the time from "
                    "the window); off."},
    {.name = "format",
     .type = KK_OPT_ENUM,
     .def = "raw",
     .choices = "raw|json|jsonl",
     .description =
         "raw: bodies go on as raw messages for a decode.* stage after "
         "this one.  json: the body (or its `items`) is a klimakit "
         "reading or an array of them; jsonl: one reading per line."},
    {.name = "validate",
     .type = KK_OPT_ENUM,
     .def = "auto",
     .choices = "auto|json|none",
     .description =
         "A 2xx body that must be JSON but is not (cut off, garbled) is a "
         "failed request and retried; auto: when format is json, `next` or "
         "`items` is set, or the Content-Type says JSON."},
    {.name = "max_body",
     .type = KK_OPT_SIZE,
     .def = "8MiB",
     .description = "Largest response body (at most 15MiB, a journal "
                    "record); a larger one is a failed request."},
    {.name = "follow_redirects",
     .type = KK_OPT_BOOL,
     .def = "true",
     .description = "Follow up to 5 redirects (http and https only; the "
                    "headers, secrets included, go along)."},
    {.name = "ca_file",
     .type = KK_OPT_STRING,
     .description = "CA certificates (PEM) to verify the server; default: "
                    "the system's."},
    {.name = "drain",
     .type = KK_OPT_DURATION,
     .def = "5s",
     .description = "On stop, how long a request in flight may still "
                    "finish (and be journalled) before it is cut."},
    {NULL}};

/* Reads a secret file: its content without trailing line breaks.  NULL
 * when it cannot be read or is empty. */
static char *hp_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc(8193);
  size_t n = b ? fread(b, 1, 8192, f) : 0;
  fclose(f);
  if (!b) return NULL;
  while (n && (b[n - 1] == '\n' || b[n - 1] == '\r'))
    n--;
  b[n] = 0;
  if (n == 0) {
    free(b);
    return NULL;
  }
  return b;
}

static int hp_add_header(hp_t *s, const char *name, const char *value) {
  if (!*name || strpbrk(name, ": \t\r\n") || strpbrk(value, "\r\n")) {
    kk_stage_error(s->st,
                   "header '%s': names have no ':' or blanks, values no "
                   "line breaks",
                   name);
    return KK_EINVAL;
  }
  size_t l = strlen(name) + strlen(value) + 3;
  char *line = malloc(l);
  if (!line) return KK_ENOMEM;
  snprintf(line, l, "%s: %s", name, value);
  struct curl_slist *n = curl_slist_append(s->headers, line);
  free(line);
  if (!n) return KK_ENOMEM;
  s->headers = n;
  return 0;
}

/* One header table: 0 literal values, 1 environment variables, 2 files. */
static int hp_header_table(hp_t *s, const kk_opts_t *o, const char *opt,
                           int kind) {
  const char *js = kk_opt_json(o, opt);
  if (!js) return 0;
  cJSON *root = cJSON_Parse(js), *e;
  int rc = 0;
  if (!cJSON_IsObject(root) && !(cJSON_IsArray(root) && !root->child)) {
    kk_stage_error(s->st, "%s: expected a table of name = \"value\"", opt);
    rc = KK_ETYPE;
  }
  for (e = root ? root->child : NULL; e && rc == 0; e = e->next) {
    if (!cJSON_IsString(e) || !e->string) {
      kk_stage_error(s->st, "%s: the value of '%s' must be a string", opt,
                     e->string ? e->string : "?");
      rc = KK_ETYPE;
      break;
    }
    char *secret = NULL;
    const char *v = e->valuestring;
    if (kind == 1) {
      v = getenv(e->valuestring);
      if (!v || !*v) {
        kk_stage_error(s->st,
                       "%s: environment variable %s (for header %s) "
                       "is not set",
                       opt, e->valuestring, e->string);
        rc = KK_EMISSING;
        break;
      }
    } else if (kind == 2) {
      v = secret = hp_read_file(e->valuestring);
      if (!v) {
        kk_stage_error(s->st,
                       "%s: cannot read %s (for header %s), or it is "
                       "empty",
                       opt, e->valuestring, e->string);
        rc = KK_EIO;
        break;
      }
    }
    rc = hp_add_header(s, e->string, v);
    free(secret);
  }
  cJSON_Delete(root);
  return rc;
}

int hp_build_headers(hp_t *s, const kk_opts_t *o) {
  int rc = hp_header_table(s, o, "headers", 0);
  if (rc == 0) rc = hp_header_table(s, o, "header_env", 1);
  if (rc == 0) rc = hp_header_table(s, o, "header_file", 2);
  if (rc) return rc;
  char *tok = NULL;
  if (kk_opt_isset(o, "bearer_env")) {
    const char *v = getenv(kk_opt_str(o, "bearer_env"));
    if (!v || !*v) {
      kk_stage_error(s->st, "bearer_env: environment variable %s is not set",
                     kk_opt_str(o, "bearer_env"));
      return KK_EMISSING;
    }
    tok = strdup(v);
  } else if (kk_opt_isset(o, "bearer_file")) {
    tok = hp_read_file(kk_opt_str(o, "bearer_file"));
    if (!tok) {
      kk_stage_error(s->st, "bearer_file: cannot read %s, or it is empty",
                     kk_opt_str(o, "bearer_file"));
      return KK_EIO;
    }
  } else {
    return 0;
  }
  if (!tok) return KK_ENOMEM;
  size_t l = strlen(tok) + 8;
  char *v = malloc(l);
  if (v) snprintf(v, l, "Bearer %s", tok);
  rc = v ? hp_add_header(s, "Authorization", v) : KK_ENOMEM;
  free(v);
  free(tok);
  return rc;
}
