/*
 * klimakit/option.h - options as data.
 *
 * Each module declares its options in a table of kk_option_t terminated by
 * an entry whose name is NULL.  The core validates a recipe against that
 * table (unknown key, wrong type, missing required value, enum value not
 * allowed) and `klimakit modules` prints it, so documentation and
 * validation come from the same place.
 *
 * Defaults are written as strings in the syntax a recipe would use
 * ("5s", "64MiB", "true", "jsonl"); they are parsed by the same code.
 */
#ifndef KLIMAKIT_OPTION_H
#define KLIMAKIT_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kk_opt_type {
  KK_OPT_STRING = 1,
  KK_OPT_INT,    /* 64-bit integer; min/max checked when min < max */
  KK_OPT_DOUBLE, /* min/max checked when min < max */
  KK_OPT_BOOL,
  KK_OPT_DURATION, /* number of seconds or "250ms", "5s", "2m", "1h", "7d" */
  KK_OPT_SIZE,     /* number of bytes or "512", "64KiB", "16MiB", "1GiB" */
  KK_OPT_ENUM,     /* one of `choices` ("a|b|c") */
  KK_OPT_LIST,     /* Lua sequence of strings */
  KK_OPT_TABLE,    /* any Lua table, handed to the module as JSON text */
  KK_OPT_FUNCTION  /* a Lua function (for Lua-facing modules only) */
} kk_opt_type_t;

#define KK_OPT_REQUIRED 0x1u

typedef struct kk_option {
  const char *name;
  kk_opt_type_t type;
  unsigned flags;          /* KK_OPT_REQUIRED */
  const char *def;         /* default in recipe syntax, NULL for none */
  const char *description; /* one sentence, shown by `klimakit modules` */
  const char *choices;     /* KK_OPT_ENUM: "jsonl|csv" */
  double min, max;         /* KK_OPT_INT/DOUBLE bounds, used when min < max */
} kk_option_t;

/* The validated option values of one module instance.  Every declared
 * option has a value after validation: the recipe's, the default, or
 * "unset" (only for optional options without default). */
typedef struct kk_opts kk_opts_t;

/* Getters.  `name` must be declared in the module's table (misuse aborts
 * in debug builds and returns the zero value otherwise).  Returned strings
 * live as long as the opts, which live as long as the stage. */
bool kk_opt_isset(const kk_opts_t *o, const char *name);
const char *kk_opt_str(const kk_opts_t *o, const char *name);
int64_t kk_opt_int(const kk_opts_t *o, const char *name);
double kk_opt_double(const kk_opts_t *o, const char *name);
bool kk_opt_bool(const kk_opts_t *o, const char *name);
uint64_t kk_opt_duration_ms(const kk_opts_t *o, const char *name);
uint64_t kk_opt_size(const kk_opts_t *o, const char *name);
/* Enum: returns the index of the chosen value in `choices`. */
int kk_opt_enum(const kk_opts_t *o, const char *name);
/* List: number of items and item i. */
size_t kk_opt_list_len(const kk_opts_t *o, const char *name);
const char *kk_opt_list_item(const kk_opts_t *o, const char *name, size_t i);
/* Table: the value as JSON text (NULL when unset). */
const char *kk_opt_json(const kk_opts_t *o, const char *name);

/* Parsers shared by recipes, CLI flags and defaults.  Return 0 or
 * KK_EPARSE. */
int kk_parse_duration_ms(const char *s, uint64_t *out);
int kk_parse_size(const char *s, uint64_t *out);

#endif
