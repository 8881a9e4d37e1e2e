/*
 * modules/calc/calc_challenges.c - Klima-Challenges: the registry of
 * leaderboards (calc_challenges.h) and the configuration readers of
 * calc.challenges (calc_challenges_impl.h): rules, pseudonymous
 * participants from the recipe or a CSV file.
 */
#include "calc/calc_challenges_impl.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ch_kind_names[CH_KIND_N] = {"energy", "cycling", "action"};

static calc_board_t *board_head;

void calc_board_publish(calc_board_t *b) {
  for (calc_board_t *x = board_head; x; x = x->next)
    if (x == b) return;
  calc_board_t **p = &board_head;
  while (*p)
    p = &(*p)->next;
  b->next = NULL;
  *p = b;
}

void calc_board_withdraw(calc_board_t *b) {
  for (calc_board_t **p = &board_head; *p; p = &(*p)->next)
    if (*p == b) {
      *p = b->next;
      b->next = NULL;
      return;
    }
}

calc_board_t *calc_board_first(void) {
  return board_head;
}
calc_board_t *calc_board_next(const calc_board_t *b) {
  return b->next;
}

static void board_rows_free(ch_row_t *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].name);
    free(r[i].type);
    free(r[i].district);
  }
  free(r);
}

void calc_board_clear_rows(calc_board_t *b) {
  board_rows_free(b->teams, b->nteams);
  board_rows_free(b->districts, b->ndistricts);
  b->teams = b->districts = NULL;
  b->nteams = b->ndistricts = b->hidden_teams = 0;
}

char *calc_ch_dup(const char *s) {
  size_t n = strlen(s ? s : "") + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s ? s : "", n);
  return d;
}

/* ---- configuration -------------------------------------------------------
 */

static const cJSON *ch_get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}
static const char *ch_str(const cJSON *o, const char *k) {
  const cJSON *v = ch_get(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "2026-09-01" (local midnight) or an ISO 8601 date-time. */
static int ch_time(ch_state_t *s, const char *txt, int64_t *out) {
  int y, m, d, n = 0;
  if (!txt) return -1;
  if (sscanf(txt, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && !txt[n]) {
    if (m < 1 || m > 12 || d < 1 || d > 31) return -1;
    *out = calc_local_to_utc(
        s->tz, kk_days_from_civil(y, (unsigned)m, (unsigned)d) * KK_DAY_MS);
    return 0;
  }
  return kk_time_parse_iso8601(txt, strlen(txt), out) == 0 ? 0 : -1;
}

/* A pseudonym: 3-40 of [A-Za-z0-9_-] and no '@' (no e-mail addresses). */
static int ch_pseudonym_ok(const char *id) {
  size_t n = strlen(id);
  if (n < 3 || n > 40) return 0;
  for (const char *p = id; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

static size_t ch_name_index(char ***tab, size_t *n, const char *name,
                            int *oom) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*tab)[i], name) == 0) return i;
  char **t = realloc(*tab, (*n + 1) * sizeof *t);
  if (!t || !(t[*n] = calc_ch_dup(name))) {
    if (t) *tab = t;
    *oom = 1;
    return 0;
  }
  *tab = t;
  return (*n)++;
}

static int ch_add_participant(ch_state_t *s, const char *id, const char *team,
                              const char *type, const char *district,
                              int opt_in, char *err, size_t n) {
  if (!id || !ch_pseudonym_ok(id)) {
    snprintf(err, n,
             "participant id '%.40s' must be a pseudonym of 3-40 letters, "
             "digits, '-' or '_' (never a name or an e-mail address)",
             id ? id : "");
    return KK_EINVAL;
  }
  if (!team || !*team) {
    snprintf(err, n, "participant %s: needs a team", id);
    return KK_EINVAL;
  }
  for (size_t i = 0; i < s->np; i++)
    if (strcmp(s->p[i].id, id) == 0) {
      snprintf(err, n, "participant %s is listed twice", id);
      return KK_EINVAL;
    }
  ch_part_t *p = realloc(s->p, (s->np + 1) * sizeof *p);
  if (!p) return KK_ENOMEM;
  s->p = p;
  p = &s->p[s->np];
  memset(p, 0, sizeof *p);
  int oom = 0;
  size_t before = s->nteams;
  p->team = ch_name_index(&s->teams, &s->nteams, team, &oom);
  p->district = ch_name_index(&s->districts, &s->ndistricts,
                              district && *district ? district : "–", &oom);
  if (s->nteams > before) {
    char **tt = realloc(s->team_type, s->nteams * sizeof *tt);
    size_t *td = realloc(s->team_district, s->nteams * sizeof *td);
    if (tt) s->team_type = tt;
    if (td) s->team_district = td;
    if (!tt || !td) return KK_ENOMEM;
    tt[p->team] = calc_ch_dup(type && *type ? type : "team");
    td[p->team] = p->district;
    if (!tt[p->team]) oom = 1;
  }
  p->id = calc_ch_dup(id);
  p->opt_in = opt_in;
  if (oom || !p->id) return KK_ENOMEM;
  s->np++;
  return 0;
}

int calc_ch_participants_json(ch_state_t *s, const char *json, char *err,
                              size_t n) {
  cJSON *root = cJSON_Parse(json);
  int rc = 0, i = 0;
  const cJSON *j;
  cJSON_ArrayForEach(j, root) {
    i++;
    const cJSON *oi = ch_get(j, "opt_in");
    char e[300];
    rc = ch_add_participant(s, ch_str(j, "id"), ch_str(j, "team"),
                            ch_str(j, "team_type"), ch_str(j, "district"),
                            cJSON_IsTrue(oi), e, sizeof e);
    if (rc) {
      snprintf(err, n, "participants[%d]: %s", i, e);
      break;
    }
  }
  cJSON_Delete(root);
  return rc;
}

/* id;team;team_type;district;opt_in (header line with these names, any
 * order; ';' or ','; no quoted fields). */
int calc_ch_participants_csv(ch_state_t *s, const char *path, char *err,
                             size_t n) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    return KK_EINVAL;
  }
  char line[1024];
  int col[8] = {-1, -1, -1, -1, -1, -1, -1, -1}, lineno = 0, rc = 0;
  static const char *const names[] = {"id", "team", "team_type", "district",
                                      "opt_in"};
  char sep = ';';
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || line[0] == '#') continue;
    char *fld[8];
    int nf = 0;
    if (col[0] < 0 && lineno == 1 && !strchr(line, ';')) sep = ',';
    for (char *p = line; nf < 8;) {
      fld[nf++] = p;
      char *e = strchr(p, sep);
      if (!e) break;
      *e = 0;
      p = e + 1;
    }
    if (col[0] < 0) {
      for (int k = 0; k < nf; k++)
        for (int c = 0; c < 5; c++)
          if (strcmp(fld[k], names[c]) == 0) col[c] = k;
      if (col[0] < 0 || col[1] < 0) {
        snprintf(err, n, "%s:%d: header needs id and team", path, lineno);
        rc = KK_EPARSE;
        break;
      }
      continue;
    }
    const char *v[5];
    for (int c = 0; c < 5; c++)
      v[c] = col[c] >= 0 && col[c] < nf ? fld[col[c]] : "";
    int oi = strcmp(v[4], "ja") == 0 || strcmp(v[4], "yes") == 0 ||
             strcmp(v[4], "true") == 0 || strcmp(v[4], "1") == 0;
    char e[300];
    rc = ch_add_participant(s, v[0], v[1], v[2], v[3], oi, e, sizeof e);
    if (rc) {
      snprintf(err, n, "%s:%d: %s", path, lineno, e);
      break;
    }
  }
  fclose(f);
  return rc;
}

int calc_ch_rules(ch_state_t *s, const char *json, char *err, size_t n) {
  cJSON *root = cJSON_Parse(json);
  int rc = 0, i = 0;
  const cJSON *j;
  calc_board_t *b = &s->board;
  cJSON_ArrayForEach(j, root) {
    i++;
    if (b->nrules == CH_MAX_RULES) {
      snprintf(err, n, "at most %d challenges", CH_MAX_RULES);
      rc = KK_ETOOBIG;
      break;
    }
    ch_rule_t *r = &b->rules[b->nrules];
    memset(r, 0, sizeof *r);
    const char *kind = ch_str(j, "kind");
    int k = -1;
    for (int q = 0; q < CH_KIND_N && kind; q++)
      if (strcmp(kind, ch_kind_names[q]) == 0) k = q;
    const cJSON *pp = ch_get(j, "points_per"), *fa = ch_get(j, "factor");
    const char *id = ch_str(j, "id"), *src = ch_str(j, "factor_source");
    if (!id || k < 0 || !cJSON_IsNumber(pp) || !cJSON_IsNumber(fa) || !src ||
        !*src || ch_time(s, ch_str(j, "from"), &r->from) ||
        ch_time(s, ch_str(j, "to"), &r->to) || r->to <= r->from) {
      snprintf(err, n,
               "challenges[%d]: needs id, kind (energy, cycling or action), "
               "from and to (dates), points_per, factor (kg CO2e per unit) "
               "and factor_source (where the factor comes from)",
               i);
      rc = KK_EINVAL;
      break;
    }
    if (k == CH_ENERGY) {
      const cJSON *bl = ch_get(j, "baseline");
      if (ch_time(s, ch_str(bl, "from"), &r->base_from) ||
          ch_time(s, ch_str(bl, "to"), &r->base_to) ||
          r->base_to - r->base_from < CH_MIN_BASE_MS) {
        snprintf(err, n,
                 "challenges[%d]: an energy challenge needs baseline = { "
                 "from = date, to = date } of at least 7 days",
                 i);
        rc = KK_EINVAL;
        break;
      }
    }
    const char *prop = ch_str(j, "property");
    if (!prop)
      prop = k == CH_ENERGY    ? "energy"
             : k == CH_CYCLING ? "cycling_km"
                               : "action";
    r->kind = (ch_kind_t)k;
    r->points_per = pp->valuedouble;
    r->factor = fa->valuedouble;
    r->id = calc_ch_dup(id);
    r->title = calc_ch_dup(ch_str(j, "title") ? ch_str(j, "title") : id);
    r->property = calc_ch_dup(prop);
    r->factor_source = calc_ch_dup(src);
    r->unit_label = calc_ch_dup(k == CH_ENERGY    ? "kWh"
                                : k == CH_CYCLING ? "km"
                                                  : "");
    if (!r->id || !r->title || !r->property || !r->factor_source ||
        !r->unit_label) {
      rc = KK_ENOMEM;
      break;
    }
    size_t q = 0;
    while (q < s->nprops && strcmp(s->props[q], prop) != 0)
      q++;
    if (q == s->nprops && !(s->props[s->nprops++] = calc_ch_dup(prop))) {
      rc = KK_ENOMEM;
      break;
    }
    s->rule_prop[b->nrules] = q;
    if (!b->nrules || r->from < s->start_ms) s->start_ms = r->from;
    if (r->to > b->end_ms) b->end_ms = r->to;
    b->nrules++;
  }
  cJSON_Delete(root);
  if (!rc && !b->nrules) {
    snprintf(err, n, "challenges: expected a list of rules");
    rc = KK_EINVAL;
  }
  return rc;
}
