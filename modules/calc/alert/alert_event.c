/*
 * modules/calc/alert/alert_event.c - an event as calc.alert emits it: the
 * reading alert_<rule> (1 opened at the episode's start, 0 closed at its
 * end), and its document, a JSON object with a German text, as the raw
 * message that goes with the reading (FW_EVENT_META, forward/forward.h).
 */
#include <klimakit.h>
#include "calc/alert/alert.h"
#include "forward/forward.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A number as a German text shows it: at most one decimal, a decimal
 * comma ("1250", "52,4"). */
static void alert_num_de(kk_buf_t *b, double v) {
  char t[64];
  if (!isfinite(v)) {
    kk_buf_puts(b, "-");
    return;
  }
  snprintf(t, sizeof t, "%.1f", v);
  size_t n = strlen(t);
  if (n > 2 && strcmp(t + n - 2, ".0") == 0) t[n - 2] = 0;
  char *dot = strchr(t, '.');
  if (dot) *dot = ',';
  if (strcmp(t, "-0") == 0) memcpy(t, "0", 2);
  kk_buf_puts(b, t);
}

/* "02.03.2026, 09:10 Uhr" in local time. */
static void alert_time_de(kk_buf_t *b, int64_t t, calc_tz_t tz) {
  int64_t local = t + calc_tz_offset(tz, t), y;
  int64_t day = kk_floor_div(local, KK_DAY_MS);
  unsigned m, d;
  kk_civil_from_days(day, &y, &m, &d);
  int64_t min = (local - day * KK_DAY_MS) / KK_MINUTE_MS;
  kk_buf_printf(b, "%02u.%02u.%04d, %02d:%02d Uhr", d, m, (int)y,
                (int)(min / 60), (int)(min % 60));
}

/* "12 Min.", "2 Std. 5 Min.", "3 Tage 4 Std." */
static void alert_duration_de(kk_buf_t *b, int64_t ms) {
  int64_t min = ms > 0 ? ms / KK_MINUTE_MS : 0;
  int64_t d = min / 1440, h = (min % 1440) / 60, mi = min % 60;
  if (d)
    kk_buf_printf(b, "%d %s %d Std.", (int)d, d == 1 ? "Tag" : "Tage", (int)h);
  else if (h)
    kk_buf_printf(b, "%d Std. %d Min.", (int)h, (int)mi);
  else
    kk_buf_printf(b, "%d Min.", (int)mi);
}

static const char *alert_default_text(const alert_event_t *e) {
  const alert_rule_t *r = e->rule;
  int opened = e->ev == ALERT_EV_OPENED;
  switch (r->kind) {
  case ALERT_STALE:
    return opened ? "{thing}: keine Daten ({label}) seit {start}."
                  : "{thing}: wieder Daten ({label}); Ausfall von {start} bis "
                    "{end} ({duration}).";
  case ALERT_MEAN:
    return opened ? "{label} in {thing}: {period}mittel {value} {unit}, "
                    "{dir} dem Grenzwert {limit} {unit} (ab {start})."
                  : "{label} in {thing}: {period}mittel wieder {back} {clear} "
                    "{unit}; Überschreitung von {start} bis {end} "
                    "({duration}).";
  default:
    if (opened)
      return "{label} in {thing} seit {start} {dir} {limit} {unit} (zuletzt "
             "{value} {unit}).";
    if (e->reason)
      return "{label} in {thing}: Belegungszeit zu Ende; {dir} {limit} {unit} "
             "von {start} bis {end} ({duration}, Höchstwert {peak} {unit}).";
    return "{label} in {thing} wieder {back} {clear} {unit}; {dir} {limit} "
           "{unit} von {start} bis {end} ({duration}, Höchstwert {peak} "
           "{unit}).";
  }
}

/* Fills one {placeholder}; 0 when the name is unknown. */
static int alert_fill(kk_buf_t *b, const char *name, size_t n,
                      const alert_event_t *e, calc_tz_t tz) {
  const alert_rule_t *r = e->rule;
  const kk_datastream_t *d = kk_datastream_get(e->ds);
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
  if (IS("thing"))
    kk_buf_puts(b, d ? d->thing : "");
  else if (IS("property"))
    kk_buf_puts(b, d ? d->property : "");
  else if (IS("label"))
    kk_buf_puts(b, r->label      ? r->label
                   : r->property ? r->property
                   : d           ? d->property
                                 : "");
  else if (IS("unit"))
    kk_buf_puts(b, d ? d->unit : "");
  else if (IS("rule"))
    kk_buf_puts(b, r->name);
  else if (IS("severity"))
    kk_buf_puts(b, r->severity);
  else if (IS("value"))
    alert_num_de(b, e->value);
  else if (IS("peak"))
    alert_num_de(b, e->peak);
  else if (IS("limit"))
    alert_num_de(b, r->limit);
  else if (IS("clear"))
    alert_num_de(b, r->clear);
  else if (IS("start"))
    alert_time_de(b, e->since, tz);
  else if (IS("end"))
    alert_time_de(b, e->end, tz);
  else if (IS("time"))
    alert_time_de(b, e->now, tz);
  else if (IS("duration"))
    alert_duration_de(b, e->end - e->since);
  else if (IS("dir"))
    kk_buf_puts(b, r->below ? "unter" : "über");
  else if (IS("back"))
    kk_buf_puts(b, r->below ? "über" : "unter");
  else if (IS("period"))
    kk_buf_puts(b, r->period == CALC_P_HOUR ? "Stunden" : "Tages");
  else
    return 0;
#undef IS
  return 1;
}

void alert_event_text(kk_buf_t *b, const alert_event_t *e, calc_tz_t tz) {
  const alert_rule_t *r = e->rule;
  const char *tpl = e->ev == ALERT_EV_OPENED ? r->text : r->text_closed;
  if (!tpl) tpl = alert_default_text(e);
  for (const char *p = tpl; *p;) {
    const char *close = *p == '{' ? strchr(p, '}') : NULL;
    if (close && alert_fill(b, p + 1, (size_t)(close - p - 1), e, tz)) {
      p = close + 1;
      continue;
    }
    kk_buf_put(b, p++, 1);
  }
}

static void alert_json_time(kk_buf_t *b, const char *key, int64_t t) {
  char iso[KK_TIME_ISO_MAX];
  kk_time_format_iso8601(t, iso);
  kk_buf_printf(b, ",\"%s\":\"%s\"", key, iso);
}

static void alert_json_num(kk_buf_t *b, const char *key, double v) {
  kk_buf_printf(b, ",\"%s\":", key);
  kk_buf_double(b, v);
}

/* The event document; see docs/guide/alerts.md. */
static void alert_event_doc(kk_buf_t *b, const alert_event_t *e, calc_tz_t tz) {
  const alert_rule_t *r = e->rule;
  const kk_datastream_t *d = kk_datastream_get(e->ds);
  int opened = e->ev == ALERT_EV_OPENED;
  static const char *const kinds[] = {"threshold", "mean", "stale"};
  kk_buf_puts(b, "{\"id\":\"");
  kk_buf_json(b, r->name);
  kk_buf_puts(b, "/");
  kk_buf_json(b, d ? d->thing : "");
  kk_buf_printf(b, "/%lld\",\"event\":\"%s\",\"rule\":\"", (long long)e->since,
                opened ? "opened" : "closed");
  kk_buf_json(b, r->name);
  kk_buf_printf(b, "\",\"kind\":\"%s\",\"severity\":\"", kinds[r->kind]);
  kk_buf_json(b, r->severity);
  kk_buf_puts(b, "\",\"thing\":\"");
  kk_buf_json(b, d ? d->thing : "");
  kk_buf_puts(b, "\",\"property\":\"");
  kk_buf_json(b, d ? d->property : "");
  kk_buf_puts(b, "\",\"unit\":\"");
  kk_buf_json(b, d ? d->unit : "");
  kk_buf_puts(b, "\"");
  if (r->kind != ALERT_STALE) {
    alert_json_num(b, "value", e->value);
    if (!opened && r->kind == ALERT_THRESHOLD)
      alert_json_num(b, "peak", e->peak);
    alert_json_num(b, r->below ? "below" : "above", r->limit);
    alert_json_num(b, "clear", r->clear);
  }
  if (r->kind == ALERT_MEAN)
    kk_buf_printf(b, ",\"period\":\"%s\"", calc_period_names[r->period]);
  alert_json_time(b, "start", e->since);
  if (!opened) {
    alert_json_time(b, "end", e->end);
    kk_buf_printf(b, ",\"duration_s\":%lld",
                  (long long)((e->end - e->since) / 1000));
  }
  alert_json_time(b, "time", e->now);
  if (e->reason) kk_buf_printf(b, ",\"reason\":\"%s\"", e->reason);
  kk_buf_puts(b, ",\"text\":\"");
  kk_buf_t text = {0};
  alert_event_text(&text, e, tz);
  kk_buf_json(b, text.p ? text.p : "");
  if (text.oom) b->oom = 1;
  kk_buf_free(&text);
  kk_buf_puts(b, "\"}");
}

int alert_event_push(kk_batch_t *out, const alert_event_t *e, calc_tz_t tz,
                     kk_buf_t *scratch) {
  int opened = e->ev == ALERT_EV_OPENED;
  kk_reading_t r = {opened ? e->since : e->end, opened ? 1 : 0, e->out_ds,
                    e->flags & KK_READING_REPLAY};
  scratch->len = 0;
  alert_event_doc(scratch, e, tz);
  if (scratch->oom) {
    scratch->oom = 0;
    return KK_ENOMEM;
  }
  int rc = kk_batch_push(out, &r);
  if (!rc)
    rc = kk_batch_push_raw(out, e->seq, e->now, 0, FW_EVENT_META, scratch->p,
                           scratch->len);
  return rc;
}
