/*
 * modules/forward/email.c - forward.email: alert events (calc.alert) as
 * e-mail over SMTP, through libcurl on the loop.
 *
 * One message per event, to every address in `to`: a subject and a plain
 * German body rendered from templates with the event's fields ({text},
 * {thing}, {rule}, {start}...).  Readings without an event document are
 * acknowledged without a message (counted), so the sink can sit behind a
 * stage that also emits other readings.
 *
 * Delivery goes through the forwarding spool (forward.h) like
 * forward.webhook: an SMTP server that is down delays mails, never the
 * node, and after a crash at most the message in flight is sent again.
 * Its Message-ID is made from the event's id and kind, so a mail client
 * or server that deduplicates shows it once.  Outcomes: accepted (250) is
 * acknowledged; a 5xx answer to MAIL/RCPT/DATA is refused for good
 * (dead-letter/); everything else (4xx, connection errors, timeouts,
 * failed login) is retried with backoff.
 */
#include <klimakit.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward/forward.h"
#include "net/net_curl.h"

typedef struct email_state {
  kk_stage_t *st;
  const kk_opts_t *opts;
  const char *url, *from, *tz, *subject, *body;
  struct curl_slist *rcpt;
  char *user, *password; /* owned */
  long use_ssl, timeout_ms;
  fw_t *fw;
  net_curl_t *cl;
  /* the message in flight */
  kk_buf_t msg;
  size_t msg_off;
  char errbuf[CURL_ERROR_SIZE];
  kk_stop_cb stop_cb;
  kk_ratelimit_t rl;
  kk_metric_t *m_sent, *m_skipped;
} email_state_t;

static const char email_default_subject[] =
    "[klimakit] {status}: {thing} – {rule}";
static const char email_default_body[] =
    "{text}\n\n"
    "Regel: {rule} ({severity})\n"
    "Ort: {thing}\n"
    "Messgröße: {property} ({unit})\n"
    "Wert: {value}\n"
    "Beginn: {start}\n"
    "Ende: {end}\n\n"
    "Diese Nachricht hat klimakit automatisch erzeugt. Sie betrifft einen "
    "Raum oder eine Messstelle, keine Person.\n";

/* ---- rendering ---------------------------------------------------------- */

/* An ISO time of the document as "02.03.2026, 09:10 Uhr" local time. */
static void email_time_de(email_state_t *s, kk_buf_t *b, const char *iso) {
  int64_t ms;
  struct tm tm;
  if (!iso || kk_time_parse_iso8601(iso, strlen(iso), &ms) != 0) {
    kk_buf_puts(b, "–");
    return;
  }
  kk_tz_local(s->tz, kk_floor_div(ms, 1000), &tm);
  kk_buf_printf(b, "%02d.%02d.%04d, %02d:%02d Uhr", tm.tm_mday, tm.tm_mon + 1,
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}

static void email_fill(email_state_t *s, kk_buf_t *b, const char *name,
                       size_t n, const cJSON *doc) {
  char key[32];
  if (n >= sizeof key) n = sizeof key - 1;
  memcpy(key, name, n);
  key[n] = 0;
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(doc, "event");
  if (strcmp(key, "status") == 0) {
    int closed = cJSON_IsString(ev) && strcmp(ev->valuestring, "closed") == 0;
    kk_buf_puts(b, closed ? "Entwarnung" : "Alarm");
    return;
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
  if (strcmp(key, "start") == 0 || strcmp(key, "end") == 0 ||
      strcmp(key, "time") == 0) {
    email_time_de(s, b, cJSON_IsString(v) ? v->valuestring : NULL);
  } else if (cJSON_IsString(v)) {
    kk_buf_puts(b, v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    char num[KK_FMT_DOUBLE_MAX];
    kk_fmt_double(v->valuedouble, num);
    for (char *p = num; *p; p++) /* German decimal comma */
      if (*p == '.') *p = ',';
    kk_buf_puts(b, num);
  } else {
    kk_buf_puts(b, "–");
  }
}

static void email_render(email_state_t *s, kk_buf_t *b, const char *tpl,
                         const cJSON *doc) {
  for (const char *p = tpl; *p;) {
    const char *close = *p == '{' ? strchr(p, '}') : NULL;
    if (close && close - p < 32) {
      email_fill(s, b, p + 1, (size_t)(close - p - 1), doc);
      p = close + 1;
      continue;
    }
    kk_buf_put(b, p++, 1);
  }
}

/* Base64 of `n` bytes at `p`, in lines of 76 characters (RFC 2045). */
static void email_base64(kk_buf_t *b, const char *p, size_t n, int lines) {
  unsigned char out[80];
  for (size_t i = 0; i < n; i += 57) {
    size_t k = n - i < 57 ? n - i : 57, olen = 0;
    mbedtls_base64_encode(out, sizeof out, &olen, (const unsigned char *)p + i,
                          k);
    kk_buf_put(b, (const char *)out, olen);
    if (lines) kk_buf_puts(b, "\r\n");
  }
}

/* The whole message (RFC 5322, MIME, UTF-8 in base64). */
static int email_message(email_state_t *s, const cJSON *doc) {
  kk_buf_t *m = &s->msg, subj = {0}, body = {0};
  char date[64], id[256];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  const cJSON *eid = cJSON_GetObjectItemCaseSensitive(doc, "id");
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(doc, "event");
  size_t k = 0;
  /* Stable across retries and restarts: a receiver may deduplicate. */
  for (const char *p = cJSON_IsString(eid) ? eid->valuestring : "event";
       *p && k < 160; p++)
    id[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
                  ? *p
                  : '.';
  snprintf(id + k, sizeof id - k, ".%s@klimakit",
           cJSON_IsString(ev) ? ev->valuestring : "event");
  email_render(s, &subj, s->subject, doc);
  email_render(s, &body, s->body, doc);
  m->len = 0;
  s->msg_off = 0;
  kk_buf_printf(m, "Date: %s\r\nFrom: %s\r\nTo: ", date, s->from);
  for (struct curl_slist *r = s->rcpt; r; r = r->next)
    kk_buf_printf(m, "%s%s", r->data, r->next ? ", " : "\r\n");
  kk_buf_printf(m, "Message-ID: <%s>\r\nSubject: =?UTF-8?B?", id);
  email_base64(m, subj.p ? subj.p : "", subj.len, 0);
  kk_buf_puts(m, "?=\r\nMIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=UTF-8\r\n"
                 "Content-Transfer-Encoding: base64\r\n"
                 "Auto-Submitted: auto-generated\r\n"
                 "X-Klimakit-Event: ");
  kk_buf_puts(m, id);
  kk_buf_puts(m, "\r\n\r\n");
  /* CRLF line ends, as SMTP wants them, inside the encoding too. */
  kk_buf_t crlf = {0};
  for (size_t i = 0; i < body.len; i++) {
    if (body.p[i] == '\n' && (i == 0 || body.p[i - 1] != '\r'))
      kk_buf_put(&crlf, "\r", 1);
    kk_buf_put(&crlf, body.p + i, 1);
  }
  email_base64(m, crlf.p ? crlf.p : "", crlf.len, 1);
  int oom = subj.oom || body.oom || crlf.oom || m->oom;
  kk_buf_free(&subj);
  kk_buf_free(&body);
  kk_buf_free(&crlf);
  m->oom = 0;
  return oom ? KK_ENOMEM : 0;
}

/* ---- delivery ------------------------------------------------------------ */

static size_t email_read_cb(char *p, size_t size, size_t nmemb, void *arg) {
  email_state_t *s = arg;
  size_t room = size * nmemb, left = s->msg.len - s->msg_off;
  size_t n = left < room ? left : room;
  memcpy(p, s->msg.p + s->msg_off, n);
  s->msg_off += n;
  return n;
}

static void email_done(CURL *easy, CURLcode res, void *arg) {
  email_state_t *s = arg;
  long code = 0;
  char why[CURL_ERROR_SIZE + 64];
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(easy);
  if (res == CURLE_OK) {
    kk_metric_add(s->m_sent, 1);
    fw_result(s->fw, FW_ACK, 1, 0, NULL, NULL, NULL);
    return;
  }
  snprintf(why, sizeof why, "SMTP %ld: %s", code,
           s->errbuf[0] ? s->errbuf : curl_easy_strerror(res));
  /* A failed login is the operator's to fix: retry until it is. */
  int dead = code >= 500 && code < 600 && res != CURLE_LOGIN_DENIED;
  if (!dead && kk_ratelimit_ok(&s->rl))
    kk_stage_log(s->st, KK_LOG_WARN, "mail not sent, retrying: %s", why);
  kk_buf_put(&s->msg, "", 1);
  fw_result(s->fw, dead ? FW_DEAD : FW_RETRY, dead ? 1 : 0, (int)code, why,
            dead ? s->msg.p : NULL, NULL);
}

static int email_send(void *ctx, const fw_item_t *items, size_t n) {
  email_state_t *s = ctx;
  size_t plain = 0;
  while (plain < n && !items[plain].event)
    plain++;
  if (plain) { /* readings without an event: nothing to mail */
    kk_metric_add(s->m_skipped, (int64_t)plain);
    fw_result(s->fw, FW_ACK, plain, 0, NULL, NULL, NULL);
    return 0;
  }
  cJSON *doc = cJSON_Parse(items[0].event);
  int rc = doc ? email_message(s, doc) : KK_EPARSE;
  cJSON_Delete(doc);
  if (rc) return rc;
  CURL *e = curl_easy_init();
  if (!e) return KK_ENOMEM;
  s->errbuf[0] = 0;
  curl_easy_setopt(e, CURLOPT_URL, s->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(e, CURLOPT_MAIL_FROM, s->from);
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT, s->rcpt);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, email_read_cb);
  curl_easy_setopt(e, CURLOPT_READDATA, s);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->msg.len);
  curl_easy_setopt(e, CURLOPT_USE_SSL, s->use_ssl);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
  if (s->user) curl_easy_setopt(e, CURLOPT_USERNAME, s->user);
  if (s->password) curl_easy_setopt(e, CURLOPT_PASSWORD, s->password);
  if (kk_opt_isset(s->opts, "ca_file"))
    curl_easy_setopt(e, CURLOPT_CAINFO, kk_opt_str(s->opts, "ca_file"));
  rc = net_curl_add(s->cl, e, email_done, s);
  if (rc) curl_easy_cleanup(e);
  return rc;
}

static const fw_ops_t email_ops = {.send = email_send};

/* ---- lifecycle ------------------------------------------------------------
 */

static int email_create(kk_stage_t *st, const kk_opts_t *o, void **state) {
  if (net_curl_check(st) != 0) return KK_EMISSING;
  email_state_t *s = calloc(1, sizeof *s);
  if (!s) return KK_ENOMEM;
  *state = s;
  s->st = st;
  s->opts = o;
  s->url = kk_opt_str(o, "url");
  s->from = kk_opt_str(o, "from");
  s->tz = kk_opt_str(o, "tz");
  s->subject = kk_opt_isset(o, "subject") ? kk_opt_str(o, "subject")
                                          : email_default_subject;
  s->body =
      kk_opt_isset(o, "body") ? kk_opt_str(o, "body") : email_default_body;
  s->timeout_ms = (long)kk_opt_duration_ms(o, "timeout");
  s->rl = (kk_ratelimit_t)KK_RATELIMIT_INIT(60000, 5);
  static const long tls[] = {CURLUSESSL_ALL, CURLUSESSL_TRY, CURLUSESSL_NONE};
  s->use_ssl = tls[kk_opt_enum(o, "starttls")];
  if (strncmp(s->url, "smtp://", 7) != 0 &&
      strncmp(s->url, "smtps://", 8) != 0) {
    kk_stage_error(st,
                   "url: expected smtp://host[:port] or smtps://host[:port]");
    return KK_EINVAL;
  }
  if (kk_tz_check(s->tz) != 0) {
    kk_stage_error(st, "tz: unknown time zone %s", s->tz);
    return KK_EINVAL;
  }
  if (kk_opt_list_len(o, "to") == 0) {
    kk_stage_error(st, "to: at least one address");
    return KK_EMISSING;
  }
  for (size_t i = 0; i < kk_opt_list_len(o, "to"); i++) {
    const char *a = kk_opt_list_item(o, "to", i);
    if (strpbrk(a, "\r\n,") || !strchr(a, '@')) {
      kk_stage_error(st, "to: '%s' is not one e-mail address", a);
      return KK_EINVAL;
    }
    s->rcpt = curl_slist_append(s->rcpt, a);
  }
  if (strpbrk(s->from, "\r\n") || !strchr(s->from, '@')) {
    kk_stage_error(st, "from: '%s' is not an e-mail address", s->from);
    return KK_EINVAL;
  }
  s->m_sent = kk_stage_counter(st, "kk_email_sent_total", NULL,
                               "Mails the SMTP server accepted");
  s->m_skipped = kk_stage_counter(st, "kk_email_skipped_total", NULL,
                                  "Readings without an event, not mailed");
  if (!kk_opt_isset(o, "user")) return 0;
  const char *err = NULL;
  s->user = strdup(kk_opt_str(o, "user"));
  s->password = fw_read_secret(
      kk_opt_str(o, "password_env"),
      kk_opt_isset(o, "password_file") ? kk_opt_str(o, "password_file") : NULL,
      &err);
  if (!s->user || !s->password) {
    kk_stage_error(st, "password: %s (password_env = %s)",
                   err ? err : "out of memory", kk_opt_str(o, "password_env"));
    return KK_EMISSING;
  }
  return 0;
}

static int email_start(kk_stage_t *st, void *state) {
  email_state_t *s = state;
  int rc = net_curl_new(kk_stage_loop(st), &s->cl);
  if (rc) {
    kk_stage_error(st, "cannot set up libcurl: %s", kk_strerror(rc));
    return rc;
  }
  rc = fw_new(st, s->opts, &email_ops, s, &s->fw);
  if (rc) {
    net_curl_close(s->cl, NULL, NULL);
    s->cl = NULL;
  }
  return rc;
}

static int email_process(kk_stage_t *st, void *state, kk_batch_t *b) {
  email_state_t *s = state;
  (void)st;
  return fw_process(s->fw, b);
}

static void email_curl_closed(void *arg) {
  email_state_t *s = arg;
  s->cl = NULL;
  s->stop_cb(s->st);
}

static void email_fw_stopped(void *arg) {
  email_state_t *s = arg;
  net_curl_close(s->cl, email_curl_closed, s);
}

static void email_stop(kk_stage_t *st, void *state, kk_stop_cb cb) {
  email_state_t *s = state;
  (void)st;
  s->stop_cb = cb;
  fw_stop(s->fw, email_fw_stopped, s);
}

static void email_destroy(void *state) {
  email_state_t *s = state;
  if (!s) return;
  fw_free(s->fw);
  curl_slist_free_all(s->rcpt);
  if (s->password) {
    memset(s->password, 0, strlen(s->password));
    free(s->password);
  }
  free(s->user);
  kk_buf_free(&s->msg);
  free(s);
}

static const kk_option_t email_options[] = {
    {.name = "url",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "SMTP server: `smtp://host:587` (STARTTLS, see "
                    "`starttls`) or `smtps://host:465` (TLS from the start)."},
    {.name = "from",
     .type = KK_OPT_STRING,
     .flags = KK_OPT_REQUIRED,
     .description = "Sender address (envelope and From header)."},
    {.name = "to",
     .type = KK_OPT_LIST,
     .flags = KK_OPT_REQUIRED,
     .description = "Recipient addresses; each event is one message to all."},
    {.name = "starttls",
     .type = KK_OPT_ENUM,
     .def = "required",
     .choices = "required|try|off",
     .description = "STARTTLS on smtp://: `required` refuses a server "
                    "without it, `try` uses it when offered, `off` never (a "
                    "local relay)."},
    {.name = "user",
     .type = KK_OPT_STRING,
     .description = "Login name for SMTP AUTH; the password comes from "
                    "`password_env` or `password_file`."},
    {.name = "password_env",
     .type = KK_OPT_STRING,
     .def = "KLIMAKIT_SMTP_PASSWORD",
     .description = "Environment variable holding the SMTP password."},
    {.name = "password_file",
     .type = KK_OPT_STRING,
     .description = "File holding the password, used when the environment "
                    "variable is not set (trailing newline ignored)."},
    {.name = "subject",
     .type = KK_OPT_STRING,
     .description = "Subject template; placeholders are the event's fields "
                    "({text}, {thing}, {rule}, {value}, {start}...) and "
                    "{status} (Alarm, Entwarnung).  Default: `[klimakit] "
                    "{status}: {thing} – {rule}`."},
    {.name = "body",
     .type = KK_OPT_STRING,
     .description = "Body template (plain text, UTF-8), placeholders as for "
                    "`subject`; the default is a German text with the "
                    "event's text, place, value and times."},
    {.name = "tz",
     .type = KK_OPT_STRING,
     .def = "Europe/Berlin",
     .description = "Time zone of {start}, {end} and {time} in the texts."},
    {.name = "timeout",
     .type = KK_OPT_DURATION,
     .def = "30s",
     .description = "Longest time one message may take; then it is retried."},
    {.name = "ca_file",
     .type = KK_OPT_STRING,
     .description = "CA certificates (PEM) to verify the server with, "
                    "instead of the system's."},
    FW_OPTIONS,
    {NULL}};

const kk_module_t forward_email_module = {
    .abi = KK_MODULE_ABI,
    .size = sizeof(kk_module_t),
    .name = "email",
    .ns = "forward",
    .kind = KK_KIND_SINK,
    .summary = "Mails alert events (calc.alert) over SMTP.",
    .description =
        "One message per event of `calc.alert` to every address in `to`, "
        "with subject and body from German templates.  SMTP goes through "
        "libcurl on the loop (smtp:// with STARTTLS, or smtps://; "
        "credentials from an environment variable or a file), and "
        "messages through the same on-disk spool as `forward.webhook`: "
        "retried with backoff while the server is down or answers 4xx, "
        "refused ones (5xx) in `dead-letter/`.  Readings without an event "
        "are not mailed.  See docs/guide/alerts.md.",
    .options = email_options,
    .create = email_create,
    .start = email_start,
    .process = email_process,
    .stop = email_stop,
    .destroy = email_destroy,
};
