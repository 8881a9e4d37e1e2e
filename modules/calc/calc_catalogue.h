/*
 * modules/calc/calc_catalogue.h - the measures catalogue of calc.measures
 * (internal to the module family, stage-free).
 *
 * A catalogue is the list a Klimaschutzmanagement steers by: one record
 * per measure with the columns real trackers use (Kausal Watch: schedule
 * status on time / late / cancelled and phase not started / planning /
 * implementation / completed; LocalZero Monitoring: responsible organ,
 * planned and actual start and completion, completion %; Maßnahmenblatt
 * columns: Handlungsfeld, target group, costs, emission-reduction class).
 * It is read from CSV (RFC 4180, ';' or ',' separated, German or English
 * header names) or from JSON (the recipe's Lua table), changed by partner
 * updates (JSON, see calc_cat_update()), and serialised to JSON for the
 * stage's snapshot, the open-data export and the dashboard.
 *
 * The dashboard and the export find a running catalogue through the
 * registry at the end (calc_cat_first(), calc_cat_next()): calc.measures
 * publishes its catalogue there while it runs.  Strings cannot travel
 * in readings, and the catalogue is state of the calculator, not a
 * series; the registry is how the few modules that show it reach it
 * without knowing the stage.  Loop thread only (the export copies the
 * JSON on the loop thread before its worker runs).
 */
#ifndef CALC_CATALOGUE_H
#define CALC_CATALOGUE_H

#include <klimakit.h>
#include <stddef.h>
#include <stdint.h>

/* Schedule status (Kausal Watch's DEFAULT_ACTION_STATUSES) and phase
 * (its IMPLEMENTATION_PHASES).  Numbers are what the readings carry. */
typedef enum {
  CAT_ST_UNKNOWN = 0,
  CAT_ST_ON_TIME = 1,
  CAT_ST_LATE = 2,
  CAT_ST_CANCELLED = 3,
  CAT_ST_N
} cat_status_t;
typedef enum {
  CAT_PH_UNKNOWN = 0,
  CAT_PH_NOT_STARTED = 1,
  CAT_PH_PLANNING = 2,
  CAT_PH_IMPLEMENTATION = 3,
  CAT_PH_COMPLETED = 4,
  CAT_PH_N
} cat_phase_t;
extern const char *const cat_status_keys[CAT_ST_N]; /* "on_time"... */
extern const char *const cat_phase_keys[CAT_PH_N];  /* "planning"... */

/* Emission-reduction class of a measure without a number (Maßnahmen
 * catalogues: hoch / mittel / niedrig / indirekt / keine). */
typedef enum {
  CAT_CL_NONE = 0, /* a number is given, or nothing */
  CAT_CL_HIGH,
  CAT_CL_MEDIUM,
  CAT_CL_LOW,
  CAT_CL_INDIRECT,
  CAT_CL_ZERO,
  CAT_CL_N
} cat_class_t;
extern const char *const cat_class_keys[CAT_CL_N];

#define CAT_MAX_YEARS 64
#define CAT_MAX_HISTORY 512 /* per measure; older entries are dropped */

/* One year of a measure.  NaN where nothing is known. */
typedef struct cat_year {
  int year;
  double actual;   /* indicator sum of the year (indicator unit) */
  double impact;   /* baseline - actual (indicator unit), metered */
  double metered;  /* impact in t CO2e (unit or factor), metered */
  double reported; /* t CO2e reported for the year (partner update) */
} cat_year_t;

/* One partner update as it was applied. */
typedef struct cat_hist {
  int64_t time_ms; /* time the update states, else its reception */
  int64_t recv_ms; /* reception (journal) time */
  char *author;    /* as reported */
  char *summary;   /* "phase: planning → implementation; ..." */
  char *note;      /* free text, may be NULL */
} cat_hist_t;

typedef struct cat_measure {
  char *id, *sector, *title, *description, *responsible, *partners,
      *target_group, *source, *priority;
  char *thing; /* "measure/<id>" */
  char planned_start[11], planned_end[11], actual_start[11], actual_end[11];
  cat_status_t status;
  cat_phase_t phase;
  double completion; /* 0..100, NaN unknown */
  double planned_t;  /* t CO2e/a, NaN when a class or unknown */
  cat_class_t planned_class;
  double budget, spent; /* EUR, NaN unknown */
  char **ind;           /* indicator datastreams "thing/property" */
  int64_t *ind_last;    /* per indicator: latest time absorbed */
  size_t nind;
  int base_from, base_to; /* baseline years, 0 when none */
  double factor;          /* t CO2e per indicator unit, NaN: by unit */
  double expected;        /* legacy: expected impact (indicator unit) */
  char unit[24];          /* of the indicators, once seen ("": not yet) */
  cat_year_t years[CAT_MAX_YEARS];
  size_t nyears; /* sorted by year */
  cat_hist_t *hist;
  size_t nhist;
  int64_t updated_ms; /* last update, 0 never */
  int touched;        /* scratch of calc.measures */
} cat_measure_t;

typedef struct calc_cat {
  char *name; /* the stage that owns it */
  cat_measure_t *m;
  size_t n, cap;
  uint64_t gen; /* changes whenever a measure changes */
  struct calc_cat *next;
} calc_cat_t;

/* Parsing (calc_catalogue.c).  Each returns 0, or KK_EINVAL / KK_EPARSE /
 * KK_ENOMEM with "line N: ..." or "measures[N]: ..." in err. */
int calc_cat_load_csv(calc_cat_t *c, const char *path, char *err, size_t n);
int calc_cat_load_json(calc_cat_t *c, const char *json, char *err, size_t n);
void calc_cat_free(calc_cat_t *c);

/* Looks a measure up by id (linear; ids are unique), or NULL. */
cat_measure_t *calc_cat_find(calc_cat_t *c, const char *id);
/* The year slot of m (inserted in order, NaN members), or NULL when
 * CAT_MAX_YEARS are taken. */
cat_year_t *calc_cat_year(cat_measure_t *m, int year);
/* Achieved t CO2e of a year: metered when the measure has indicators and
 * the year has metered data, otherwise reported; NaN when neither.
 * *how gets 'm' (metered), 'r' (reported) or 0. */
double calc_cat_achieved(const cat_measure_t *m, const cat_year_t *y,
                         char *how);
/* Expected t CO2e of year y: planned_t from the year the measure started
 * (actual start, else planned start), NaN before or when unknown. */
double calc_cat_expected(const cat_measure_t *m, int year);
/* First year of the measure's effect (actual, else planned start), 0. */
int calc_cat_start_year(const cat_measure_t *m);

/* Parsers of the fields (also used by the page filters).  Return the
 * value, or -1 for text that is none of the known words. */
int calc_cat_parse_status(const char *s);
int calc_cat_parse_phase(const char *s);

/* Applies one update object (cJSON) to the catalogue: "id" (or "thing"
 * "measure/<id>"), then any of "status", "phase", "completion",
 * "actual_start", "actual_end", "spent", "budget", "reported"
 * ({"2025": 85.5} t CO2e per year), "note", "author", "time" (ISO 8601).
 * The measure is changed only when every field is valid.  recv_ms is the
 * reception time.  Returns 0, or KK_EUNKNOWN (no such measure) /
 * KK_EINVAL (a field is wrong) with the reason in err. */
struct cJSON;
int calc_cat_update(calc_cat_t *c, const struct cJSON *u, int64_t recv_ms,
                    const char *fallback_author, cat_measure_t **changed,
                    char *err, size_t n);

/* The whole catalogue as JSON (an array of measures with their years
 * and history), appended to b.  `history`: include the update history. */
void calc_cat_json(const calc_cat_t *c, kk_buf_t *b, int history);
/* The mutable state of one measure as one JSON line (snapshot) and back. */
void calc_cat_state_json(const cat_measure_t *m, kk_buf_t *b);
int calc_cat_state_load(calc_cat_t *c, const char *json);

/* Helpers shared by calc_catalogue*.c: a copy of s ("" for NULL), and a
 * date "2025", "2025-03", "2025-03-01" or "01.03.2025" normalised into
 * YYYY[-MM[-DD]] ("" stays ""); 0 or -1. */
char *calc_cat_strdup(const char *s);
int calc_cat_date(const char *s, char out[11]);

/* ---- registry of running catalogues (loop thread) --------------------- */
void calc_cat_publish(calc_cat_t *c);
void calc_cat_withdraw(calc_cat_t *c);
calc_cat_t *calc_cat_first(void);
calc_cat_t *calc_cat_next(const calc_cat_t *c);
/* Sum of the generations of every published catalogue: a page or export
 * that shows them changes when this does. */
uint64_t calc_cat_generation(void);

#endif
