/* core/doc.c - `klimakit modules`: documentation generated from the
 * registry, so that it cannot drift from the code. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "recipe.h"

static const char *modules_help =
    "usage: klimakit modules [NAME|NAMESPACE] [--format text|markdown]\n"
    "\n"
    "Lists every module, first as an index (one line each: name, kind,\n"
    "summary), then with its options, types, defaults and descriptions,\n"
    "generated from the option tables in the code.  NAME (\"simulate\" or\n"
    "\"source.simulate\") shows one module, NAMESPACE (\"calc\") the\n"
    "modules of that namespace; \"config\" shows kk.config{}.\n"
    "--format markdown writes the reference used in "
    "docs/reference/modules.md.\n";

static const char *type_label(const kk_option_t *o) {
  switch (o->type) {
  case KK_OPT_STRING:
    return "string";
  case KK_OPT_INT:
    return "integer";
  case KK_OPT_DOUBLE:
    return "number";
  case KK_OPT_BOOL:
    return "boolean";
  case KK_OPT_DURATION:
    return "duration";
  case KK_OPT_SIZE:
    return "size";
  case KK_OPT_ENUM:
    return "enum";
  case KK_OPT_LIST:
    return "list";
  case KK_OPT_TABLE:
    return "table";
  case KK_OPT_FUNCTION:
    return "function";
  }
  return "?";
}

static const char *kind_label(kk_kind_t k) {
  return k == KK_KIND_SOURCE ? "source"
         : k == KK_KIND_SINK ? "sink"
                             : "transform";
}

static void option_extra(const kk_option_t *o, char *buf, size_t len) {
  buf[0] = 0;
  if (o->type == KK_OPT_ENUM && o->choices) {
    snprintf(buf, len, " One of: %s.", o->choices);
  } else if (o->min < o->max) {
    char lo[KK_FMT_DOUBLE_MAX], hi[KK_FMT_DOUBLE_MAX];
    kk_fmt_double(o->min, lo);
    kk_fmt_double(o->max, hi);
    snprintf(buf, len, " Range %s to %s.", lo, hi);
  }
}

static int declares(const kk_module_t *m, const char *name) {
  for (const kk_option_t *o = m->options; o && o->name; o++)
    if (strcmp(o->name, name) == 0) return 1;
  return 0;
}

static void print_text(const kk_module_t *m, int full) {
  printf("%s.%s (%s)\n  %s\n", m->ns, m->name,
         strcmp(m->ns, "kk") == 0 ? "settings" : kind_label(m->kind),
         m->summary ? m->summary : "");
  if (full && m->description) {
    /* Indent every line of the description, not only the first. */
    printf("\n  ");
    for (const char *c = m->description; *c; c++) {
      putchar(*c);
      if (*c == '\n' && c[1]) printf("  ");
    }
    printf("\n");
  }
  const kk_option_t *opts[2] = {m->options, kk__common_options};
  int printed = 0;
  for (int k = 0; k < 2; k++) {
    if (k == 1 && (!full || strcmp(m->ns, "kk") == 0)) break;
    for (const kk_option_t *o = opts[k]; o && o->name; o++) {
      if (k == 1 && strcmp(o->name, "queue") == 0 && m->kind != KK_KIND_SINK)
        continue;
      if (k == 1 && declares(m, o->name)) continue; /* the module's wins */
      if (!printed++) printf("  options:\n");
      char extra[160];
      option_extra(o, extra, sizeof extra);
      printf("    %-16s %-9s %-10s %s%s\n", o->name, type_label(o),
             (o->flags & KK_OPT_REQUIRED) ? "required"
             : o->def                     ? o->def
                                          : "-",
             o->description ? o->description : "", extra);
    }
  }
  printf("\n");
}

static void md_escape(const char *s) {
  for (; s && *s; s++) {
    if (*s == '|')
      fputs("\\|", stdout);
    else if (*s == '\n')
      fputc(' ', stdout);
    else
      fputc(*s, stdout);
  }
}

static void print_markdown(const kk_module_t *m) {
  printf("## %s.%s\n\n", m->ns, m->name);
  printf("*%s* — %s\n\n",
         strcmp(m->ns, "kk") == 0 ? "settings" : kind_label(m->kind),
         m->summary ? m->summary : "");
  if (m->description) printf("%s\n\n", m->description);
  if (strcmp(m->ns, "kk") == 0)
    printf("Recipe: `kk.config { ... }`\n\n");
  else
    printf("Recipe: `kk.%s.%s { ... }`\n\n", m->ns, m->name);
  printf("| option | type | default | description |\n|---|---|---|---|\n");
  for (const kk_option_t *o = m->options; o && o->name; o++) {
    char extra[160];
    option_extra(o, extra, sizeof extra);
    printf("| `%s` | %s | %s%s%s | ", o->name, type_label(o),
           (o->flags & KK_OPT_REQUIRED) ? "**required**"
           : o->def                     ? "`"
                                        : "—",
           (o->flags & KK_OPT_REQUIRED) ? ""
           : o->def                     ? o->def
                                        : "",
           (!(o->flags & KK_OPT_REQUIRED) && o->def) ? "`" : "");
    md_escape(o->description);
    md_escape(extra);
    printf(" |\n");
  }
  printf("\n");
}

/* The modules a NAME selects: "config", a module ("simulate",
 * "source.simulate") or a namespace ("calc"). */
static int selects(const kk_module_t *m, const char *name) {
  char full[160];
  snprintf(full, sizeof full, "%s.%s", m->ns, m->name);
  return strcmp(name, m->name) == 0 || strcmp(name, full) == 0 ||
         strcmp(name, m->ns) == 0 ||
         (m == kk__config_module() && strcmp(name, "config") == 0);
}

/* The module table with kk.config first, as the index lists it. */
static const kk_module_t *module_at(size_t i) {
  return i == 0 ? kk__config_module() : kk__registry_at(i - 1);
}

static void index_line(const kk_module_t *m, int markdown) {
  char full[160];
  if (strcmp(m->ns, "kk") == 0)
    snprintf(full, sizeof full, "config");
  else
    snprintf(full, sizeof full, "%s.%s", m->ns, m->name);
  if (markdown) {
    char anchor[160];
    size_t k = 0;
    for (const char *c = strcmp(m->ns, "kk") == 0 ? "kkconfig" : full;
         *c && k < sizeof anchor - 1; c++)
      if (*c != '.') anchor[k++] = *c;
    anchor[k] = 0;
    printf("| [`%s`](#%s) | %s | ", full, anchor,
           strcmp(m->ns, "kk") == 0 ? "settings" : kind_label(m->kind));
    md_escape(m->summary);
    printf(" |\n");
  } else {
    printf("  %-24s %-9s %s\n", full,
           strcmp(m->ns, "kk") == 0 ? "settings" : kind_label(m->kind),
           m->summary ? m->summary : "");
  }
}

/* "did you mean": the closest module name, full name or namespace. */
static void suggest(const char *name) {
  const char *best = NULL;
  char bestbuf[160];
  int bestd = 3;
  const kk_module_t *m;
  for (size_t i = 0; (m = module_at(i)); i++) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->ns, m->name);
    const char *cand[3] = {m->name, full, m->ns};
    for (int k = 0; k < 3; k++) {
      int d = kk__edit_distance(name, cand[k]);
      if (d < bestd && strcmp(cand[k], "kk") != 0) {
        bestd = d;
        snprintf(bestbuf, sizeof bestbuf, "%s", cand[k]);
        best = bestbuf;
      }
    }
  }
  if (best)
    fprintf(stderr,
            "klimakit: no module or namespace named '%s' (did you mean "
            "'%s'?)\n",
            name, best);
  else
    fprintf(stderr,
            "klimakit: no module or namespace named '%s' (see `klimakit "
            "modules`)\n",
            name);
}

int kk__cmd_modules(int argc, char **argv) {
  int markdown = 0;
  const char *name = NULL;
  kk__log_setup(KK__LOGFMT_AUTO, KK_LOG_WARN);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(modules_help, stdout);
      return 0;
    } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
      const char *f = argv[++i];
      if (strcmp(f, "markdown") == 0)
        markdown = 1;
      else if (strcmp(f, "text") != 0) {
        fprintf(stderr, "klimakit: --format must be text or markdown\n");
        return 2;
      }
    } else if (strncmp(argv[i], "--format=", 9) == 0) {
      markdown = strcmp(argv[i] + 9, "markdown") == 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "klimakit: unknown option %s\n%s", argv[i], modules_help);
      return 2;
    } else if (!name) {
      name = argv[i];
    } else {
      fputs(modules_help, stderr);
      return 2;
    }
  }
  kk__registry_init();
  kk__recipe_load_builtin_lua_modules();
  const kk_module_t *m;
  size_t found = 0;
  for (size_t i = 0; (m = module_at(i)); i++)
    if (!name || selects(m, name)) found++;
  if (name && !found) {
    suggest(name);
    return 2;
  }
  if (markdown && !name)
    printf(
        "# Module reference\n\n"
        "Generated by `klimakit modules --format markdown` from the option "
        "tables in the code.  Every stage also takes `name` (stage name in "
        "logs, metrics and journal cursors) and sinks take `queue` "
        "(readings in flight before sources are paused, default 65536).\n\n");
  /* The index first, unless NAME picks a single module. */
  if (found > 1) {
    if (markdown)
      printf("| module | kind | summary |\n|---|---|---|\n");
    else
      printf("%s:\n", name ? name : "modules");
    for (size_t i = 0; (m = module_at(i)); i++)
      if (!name || selects(m, name)) index_line(m, markdown);
    printf("\n");
  }
  for (size_t i = 0; (m = module_at(i)); i++) {
    if (name && !selects(m, name)) continue;
    if (markdown)
      print_markdown(m);
    else
      print_text(m, 1);
  }
  return 0;
}
