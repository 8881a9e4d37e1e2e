/*
 * modules/calc/alert/alert_rule.c - calc.alert's rules from the recipe:
 *
 *   rules = {
 *     co2_high = { property = "co2", above = 1000, clear = 900,
 *                  duration = "10m", schedule = "Mo-Fr 08:00-13:30" },
 *     no_data  = { stale = "2h" },
 *     pm10_day = { property = "pm10", mean = "day", above = 50 },
 *   }
 *
 * (or a list of tables with `name`).  Every mistake is a message that
 * names the rule and the field, given at `klimakit check`.
 */
#include <klimakit.h>
#include "calc/alert/alert.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int alert_glob(const char *pat, const char *s) {
  if (!pat) return 1;
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*pat == '*') {
      star = pat++;
      resume = s;
    } else if (*pat == *s) {
      pat++;
      s++;
    } else if (star) {
      pat = star + 1;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*pat == '*')
    pat++;
  return *pat == 0;
}

static const char *const alert_fields[] = {
    "name",     "property", "thing", "label",    "text",  "text_closed",
    "above",    "below",    "clear", "duration", "stale", "mean",
    "schedule", "closed",   "quiet", "severity", NULL};

/* A string field or NULL; *bad when present but not a string. */
static char *alert_str(const cJSON *o, const char *k, int *bad) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!v) return NULL;
  if (!cJSON_IsString(v)) {
    *bad = 1;
    return NULL;
  }
  char *s = strdup(v->valuestring);
  if (!s) *bad = 1;
  return s;
}

/* A duration: "10m" or a number of seconds.  -1 when missing, -2 bad. */
static int64_t alert_duration(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  uint64_t ms;
  if (!v) return -1;
  if (cJSON_IsNumber(v))
    return v->valuedouble >= 0 && v->valuedouble < 1e12
               ? (int64_t)(v->valuedouble * 1000)
               : -2;
  if (cJSON_IsString(v) && kk_parse_duration_ms(v->valuestring, &ms) == 0)
    return (int64_t)ms;
  return -2;
}

static int alert_fail(kk_stage_t *st, const char *rule, const char *fmt,
                      const char *a) {
  char msg[640];
  snprintf(msg, sizeof msg, fmt, a);
  kk_stage_error(st, "rules: rule '%s': %s", rule, msg);
  return KK_EINVAL;
}

static int alert_rule_schedules(kk_stage_t *st, alert_rule_t *r, const cJSON *o,
                                calc_tz_t tz, calc_schedule_t *quiet) {
  char err[256];
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "schedule");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "closed");
  if (v) {
    if (!cJSON_IsString(v))
      return alert_fail(st, r->name, "%s must be a string", "schedule");
    if (calc_schedule_parse(v->valuestring, tz, &r->sched, err, sizeof err))
      return alert_fail(st, r->name, "schedule: %s", err);
  }
  if (c) {
    const cJSON *e;
    if (!r->sched || !cJSON_IsArray(c))
      return alert_fail(st, r->name, "%s needs a schedule and a list of dates",
                        "closed");
    cJSON_ArrayForEach(e, c) {
      if (!cJSON_IsString(e) ||
          calc_schedule_close(r->sched, e->valuestring, err, sizeof err))
        return alert_fail(st, r->name, "closed: %s",
                          cJSON_IsString(e) ? err : "expected date strings");
    }
  }
  v = cJSON_GetObjectItemCaseSensitive(o, "quiet");
  r->quiet = quiet;
  if (cJSON_IsFalse(v)) {
    r->quiet = NULL;
  } else if (v) {
    if (!cJSON_IsString(v))
      return alert_fail(st, r->name, "%s must be a schedule string or false",
                        "quiet");
    if (calc_schedule_parse(v->valuestring, tz, &r->quiet, err, sizeof err))
      return alert_fail(st, r->name, "quiet: %s", err);
    r->quiet_owned = 1;
  }
  return 0;
}

static int alert_rule_limits(kk_stage_t *st, alert_rule_t *r, const cJSON *o) {
  const cJSON *ab = cJSON_GetObjectItemCaseSensitive(o, "above");
  const cJSON *be = cJSON_GetObjectItemCaseSensitive(o, "below");
  const cJSON *cl = cJSON_GetObjectItemCaseSensitive(o, "clear");
  if (r->kind == ALERT_STALE) {
    if (ab || be || cl)
      return alert_fail(st, r->name, "%s rules take no above, below or clear",
                        "stale");
    return 0;
  }
  if ((ab != NULL) == (be != NULL))
    return alert_fail(st, r->name, "needs exactly one of above and below%s",
                      "");
  const cJSON *lim = ab ? ab : be;
  if (!cJSON_IsNumber(lim) || !isfinite(lim->valuedouble))
    return alert_fail(st, r->name, "%s must be a number",
                      ab ? "above" : "below");
  r->below = be != NULL;
  r->limit = r->clear = lim->valuedouble;
  if (cl) {
    if (!cJSON_IsNumber(cl))
      return alert_fail(st, r->name, "%s must be a number", "clear");
    r->clear = cl->valuedouble;
    if (r->below ? r->clear < r->limit : r->clear > r->limit)
      return alert_fail(st, r->name,
                        "clear must be on the safe side of the "
                        "limit (%s)",
                        r->below ? "not below it" : "not above it");
  }
  return 0;
}

static int alert_rule_kind(kk_stage_t *st, alert_rule_t *r, const cJSON *o) {
  int64_t d = alert_duration(o, "duration");
  int64_t stale = alert_duration(o, "stale");
  const cJSON *mean = cJSON_GetObjectItemCaseSensitive(o, "mean");
  if (d == -2 || stale == -2)
    return alert_fail(st, r->name, "%s must be a duration (\"10m\", seconds)",
                      d == -2 ? "duration" : "stale");
  if (stale >= 0 && mean)
    return alert_fail(st, r->name, "%s: choose stale or mean", "kind");
  r->kind = stale >= 0 ? ALERT_STALE : mean ? ALERT_MEAN : ALERT_THRESHOLD;
  r->for_ms = d > 0 ? d : 0;
  if (r->kind == ALERT_STALE) {
    if (stale < 1000)
      return alert_fail(st, r->name, "%s must be at least 1s", "stale");
    r->stale_ms = stale;
  }
  if (r->kind == ALERT_MEAN) {
    const char *p = cJSON_IsString(mean) ? mean->valuestring : "";
    if (strcmp(p, "day") == 0)
      r->period = CALC_P_DAY;
    else if (strcmp(p, "hour") == 0)
      r->period = CALC_P_HOUR;
    else
      return alert_fail(st, r->name, "mean must be \"day\" or \"hour\"%s", "");
  }
  if (r->kind != ALERT_STALE && !r->property)
    return alert_fail(st, r->name, "%s is required", "property");
  return 0;
}

static int alert_rule_parse(kk_stage_t *st, alert_rule_t *r, const cJSON *o,
                            const char *key, calc_tz_t tz,
                            calc_schedule_t *quiet) {
  int bad = 0;
  const cJSON *f;
  r->name = key ? strdup(key) : alert_str(o, "name", &bad);
  if (!r->name || bad || !*r->name) {
    kk_stage_error(st, "rules: every rule needs a name (a key or `name`)");
    return KK_EINVAL;
  }
  for (const char *p = r->name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return alert_fail(st, r->name, "%s: use a-z, 0-9 and _ in names", "name");
  cJSON_ArrayForEach(f, o) {
    size_t i = 0;
    while (alert_fields[i] && strcmp(alert_fields[i], f->string) != 0)
      i++;
    if (!alert_fields[i])
      return alert_fail(st, r->name, "unknown field '%s'", f->string);
  }
  r->property = alert_str(o, "property", &bad);
  r->thing = alert_str(o, "thing", &bad);
  r->label = alert_str(o, "label", &bad);
  r->text = alert_str(o, "text", &bad);
  r->text_closed = alert_str(o, "text_closed", &bad);
  r->severity = alert_str(o, "severity", &bad);
  if (bad)
    return alert_fail(st, r->name, "%s must be strings",
                      "property, thing, label, text, severity");
  if (!r->severity && !(r->severity = strdup("warning"))) return KK_ENOMEM;
  int rc = alert_rule_kind(st, r, o);
  if (!rc) rc = alert_rule_limits(st, r, o);
  if (!rc) rc = alert_rule_schedules(st, r, o, tz, quiet);
  r->clock = INT64_MIN;
  return rc;
}

int alert_rules_parse(kk_stage_t *st, const char *json, calc_tz_t tz,
                      calc_schedule_t *quiet, alert_rule_t **rules, size_t *n) {
  cJSON *root = cJSON_Parse(json), *e;
  *rules = NULL;
  *n = 0;
  int count = cJSON_GetArraySize(root);
  if (!(cJSON_IsArray(root) || cJSON_IsObject(root)) || count == 0) {
    cJSON_Delete(root);
    kk_stage_error(st, "rules: expected a table of rules");
    return KK_EINVAL;
  }
  alert_rule_t *r = calloc((size_t)count, sizeof *r);
  if (!r) {
    cJSON_Delete(root);
    return KK_ENOMEM;
  }
  int rc = 0;
  size_t k = 0;
  cJSON_ArrayForEach(e, root) {
    if (!cJSON_IsObject(e)) {
      kk_stage_error(st, "rules: each rule is a table");
      rc = KK_EINVAL;
      break;
    }
    rc = alert_rule_parse(st, &r[k++], e,
                          cJSON_IsObject(root) ? e->string : NULL, tz, quiet);
    for (size_t j = 0; !rc && j + 1 < k; j++)
      if (strcmp(r[j].name, r[k - 1].name) == 0)
        rc = alert_fail(st, r[j].name, "%s", "defined twice");
    if (rc) break;
  }
  cJSON_Delete(root);
  if (rc) {
    alert_rules_free(r, (size_t)count);
    return rc;
  }
  *rules = r;
  *n = k;
  return 0;
}

void alert_rules_free(alert_rule_t *rules, size_t n) {
  for (size_t i = 0; rules && i < n; i++) {
    alert_rule_t *r = &rules[i];
    free(r->name);
    free(r->property);
    free(r->thing);
    free(r->label);
    free(r->text);
    free(r->text_closed);
    free(r->severity);
    calc_schedule_free(r->sched);
    if (r->quiet_owned) calc_schedule_free(r->quiet);
    free(r->tr);
  }
  free(rules);
}
