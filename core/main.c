/* core/main.c - the klimakit command line.
 *
 * Exit codes (documented in `klimakit --help` and docs/reference/cli.md):
 *   0  success
 *   1  runtime failure (a stage could not start, shutdown timed out)
 *   2  usage error (unknown command or flag)
 *   3  the recipe has errors (`check` and `run` print them as file:line)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "recipe.h"
#include "reload.h"

#define EXIT_USAGE 2
#define EXIT_RECIPE 3

int kk__cmd_modules(int argc, char **argv);
int kk__cmd_docs(int argc, char **argv);
int kk__cmd_journal(int argc, char **argv);
static int want_help(int argc, char **argv);

/* `klimakit --help`: the core's commands, then those the modules
 * contribute (kk_module_t.commands), then the common options. */
static const char *main_help_head =
    "klimakit - smart-climate toolkit: sensors in, CO2 and air numbers out\n"
    "\n"
    "usage: klimakit <command> [options]\n"
    "\n"
    "commands:\n"
    "  run RECIPE       check the recipe, then run its pipeline until SIGINT\n"
    "                   or SIGTERM (or until every source is done)\n"
    "  check RECIPE     check the recipe and print errors as file:line\n"
    "  modules [NAME]   document every module and option (--format markdown)\n"
    "  reload [RECIPE]  make the running `klimakit run` re-read its recipe\n"
    "  journal COMMAND  journal segments, cursors and dead letters (requeue)\n"
    "  docs build       render docs/ and the playbooks into a checked site\n";

static const char *main_help_tail =
    "  version          print the version\n"
    "\n"
    "common options:\n"
    "  --log-format text|json   log lines for people or machines (default:\n"
    "                           text on a terminal, json otherwise)\n"
    "  --log-level error|warn|info|debug\n"
    "  -h, --help               help for a command\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 recipe errors\n";

/* Prints `text` from column `col` on, wrapped at word boundaries so
 * that lines stay within 68 columns like the hand-wrapped ones above,
 * continuing at column 19. */
static void print_wrapped(FILE *f, const char *text, size_t col) {
  const size_t indent = 19, width = 68;
  while (*text) {
    size_t room = width > col ? width - col : 1, n = strlen(text);
    if (n > room) {
      size_t cut = room;
      while (cut > 0 && text[cut] != ' ')
        cut--;
      n = cut ? cut : room;
    }
    fprintf(f, "%.*s\n", (int)n, text);
    text += n;
    while (*text == ' ')
      text++;
    if (*text) fprintf(f, "%*s", (int)indent, "");
    col = indent;
  }
}

static void print_main_help(FILE *f) {
  fputs(main_help_head, f);
  const kk_command_t *c;
  for (size_t i = 0; (c = kk__registry_command_at(i, NULL)); i++) {
    char head[64];
    int n =
        snprintf(head, sizeof head, "%s%s%s", c->name,
                 c->usage && *c->usage ? " " : "", c->usage ? c->usage : "");
    if (n < 0) continue;
    size_t len = (size_t)n < sizeof head ? (size_t)n : sizeof head - 1;
    if (len <= 16) {
      fprintf(f, "  %-16s ", head);
      print_wrapped(f, c->summary ? c->summary : "", 19);
    } else {
      fprintf(f, "  %s   ", head);
      print_wrapped(f, c->summary ? c->summary : "", len + 5);
    }
  }
  fputs(main_help_tail, f);
}

static const char *run_help =
    "usage: klimakit run RECIPE [--data-dir DIR] [--log-format text|json]\n"
    "                           [--log-level LEVEL]\n"
    "\n"
    "Checks RECIPE like `klimakit check`, then runs it.  Sources append what\n"
    "they receive to the journal under DIR/journal before acknowledging it;\n"
    "after a crash every sink resumes from its cursor.  SIGINT or SIGTERM\n"
    "stop the sources, drain the pipeline, save the cursors and exit 0; a\n"
    "second signal (100 ms or more later) saves the cursors and exits 1.\n"
    "SIGHUP (or `klimakit reload`) re-reads and checks RECIPE: on an error\n"
    "the pipeline goes on unchanged and the errors are logged; otherwise it\n"
    "is drained and rebuilt in this process, keeping journal and cursors.\n"
    "The pid is in DIR/klimakit.pid while it runs.\n"
    "\n"
    "  --data-dir DIR   default data directory (kk.config{data_dir=} wins);\n"
    "                   default: $STATE_DIRECTORY, else var/ beside\n"
    "                   the recipe\n";

static const char *check_help =
    "usage: klimakit check RECIPE\n"
    "\n"
    "Runs the recipe without starting anything and reports every mistake it\n"
    "finds as `file:line: message`: unknown modules and options, wrong\n"
    "types, missing required options, pipeline graph errors.  Then it\n"
    "creates every stage as `run` would and destroys it again, so files\n"
    "the modules read (decoders, token and secret files, statistics CSVs)\n"
    "are checked too; nothing is started or written.  Exit 0 when the\n"
    "recipe is fine, 3 otherwise.\n";

static int want_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
  return 0;
}

/* Parses the common flags out of argv (in place); returns the remaining
 * count or -1 on a usage error. */
static int common_flags(int argc, char **argv, const char **data_dir) {
  kk__logfmt_t fmt = KK__LOGFMT_AUTO;
  kk_log_level_t level = KK_LOG_INFO;
  int out = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
    if (strncmp(a, "--", 2) == 0 && (val = strchr(a, '=')) != NULL) val++;
    int takes = strncmp(a, "--log-format", 12) == 0 ||
                strncmp(a, "--log-level", 11) == 0 ||
                (data_dir && strncmp(a, "--data-dir", 10) == 0);
    if (takes && !val) {
      if (i + 1 >= argc) {
        fprintf(stderr, "klimakit: %s needs a value\n", a);
        return -1;
      }
      val = argv[++i];
    }
    if (strncmp(a, "--log-format", 12) == 0) {
      if (strcmp(val, "json") == 0)
        fmt = KK__LOGFMT_JSON;
      else if (strcmp(val, "text") == 0)
        fmt = KK__LOGFMT_TEXT;
      else {
        fprintf(stderr, "klimakit: --log-format must be text or json\n");
        return -1;
      }
    } else if (strncmp(a, "--log-level", 11) == 0) {
      static const char *names[] = {"error", "warn", "info", "debug"};
      int found = -1;
      for (int k = 0; k < 4; k++)
        if (strcmp(val, names[k]) == 0) found = k;
      if (found < 0) {
        fprintf(stderr, "klimakit: --log-level must be error, warn, info or "
                        "debug\n");
        return -1;
      }
      level = (kk_log_level_t)found;
    } else if (data_dir && strncmp(a, "--data-dir", 10) == 0) {
      *data_dir = val;
    } else if (strncmp(a, "--", 2) == 0 && i > 0) {
      fprintf(stderr, "klimakit: unknown option %s\n", a);
      return -1;
    } else {
      argv[out++] = argv[i];
    }
  }
  kk__log_setup(fmt, level);
  return out;
}

static kk__recipe_t *load_checked(const char *path) {
  kk__registry_init();
  kk__recipe_load_builtin_lua_modules();
  kk__recipe_t *r = kk__recipe_load(path);
  if (!r) {
    fprintf(stderr, "klimakit: out of memory\n");
    return NULL;
  }
  size_t n = kk__recipe_nerrors(r);
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "%s\n", kk__recipe_error(r, i));
  if (n) {
    fprintf(stderr, "%zu error%s in %s\n", n, n == 1 ? "" : "s", path);
    kk__recipe_free(r);
    return NULL;
  }
  return r;
}

static int cmd_check(int argc, char **argv) {
  if (want_help(argc, argv)) {
    fputs(check_help, stdout);
    return 0;
  }
  argc = common_flags(argc, argv, NULL);
  if (argc != 2) {
    fputs(check_help, stderr);
    return EXIT_USAGE;
  }
  kk__registry_init();
  kk__recipe_load_builtin_lua_modules();
  kk__recipe_t *r = kk__recipe_load(argv[1]);
  if (!r) {
    fprintf(stderr, "klimakit: out of memory\n");
    return EXIT_RECIPE;
  }
  size_t bad = kk__recipe_nerrors(r);
  for (size_t i = 0; i < bad; i++)
    fprintf(stderr, "%s\n", kk__recipe_error(r, i));
  /* Then every stage that could be built is created, as `run` would,
   * and destroyed again, also when others had errors, so that one check
   * reports every mistake: a decoder file that does not load, a tokens
   * file without tokens, a statistics CSV with a bad row show here, not
   * at the next start. */
  bad +=
      kk__engine_try_create(kk__recipe_engine(r), kk__recipe_config(r), stderr);
  if (bad) {
    fprintf(stderr, "%zu error%s in %s\n", bad, bad == 1 ? "" : "s", argv[1]);
    kk__recipe_free(r);
    return EXIT_RECIPE;
  }
  printf("%s: ok (%zu stages)\n", argv[1],
         kk__engine_nstages(kk__recipe_engine(r)));
  kk__recipe_free(r);
  return 0;
}

static int cmd_run(int argc, char **argv) {
  if (want_help(argc, argv)) {
    fputs(run_help, stdout);
    return 0;
  }
  const char *data_dir = NULL;
  argc = common_flags(argc, argv, &data_dir);
  if (argc != 2) {
    fputs(run_help, stderr);
    return EXIT_USAGE;
  }
  if (data_dir) kk__recipe_set_default_data_dir(data_dir);
  kk__recipe_t *r = load_checked(argv[1]);
  if (!r) return EXIT_RECIPE;
  int forced;
  /* SIGHUP and `klimakit reload` rebuild the pipeline in this process. */
  int rc = kk__reload_run(r, argv[1], &forced);
  if (forced) {
    /* The stages given up on mid-stop still hold live handles: freeing
     * them is unsafe, and everything acknowledged is in the journal. */
    fflush(NULL);
    _exit(rc);
  }
  kk__recipe_set_default_data_dir(NULL);
  return rc;
}

/* A command contributed by a module: it gets the process set up as
 * kk_command_t documents, and its exit code is the process's. */
static int cmd_module(const kk_command_t *c, int argc, char **argv) {
  kk__log_setup(KK__LOGFMT_AUTO, KK_LOG_INFO);
  return c->main(argc, argv);
}

int main(int argc, char **argv) {
  /* The module table first: the help lists the modules' commands. */
  kk__registry_init();
  if (argc < 2) {
    print_main_help(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "help") == 0) {
    print_main_help(stdout);
    return 0;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("klimakit %s (module ABI %d)\n", KK_VERSION_STRING, KK_MODULE_ABI);
    return 0;
  }
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "check") == 0) return cmd_check(argc - 1, argv + 1);
  if (strcmp(cmd, "modules") == 0) return kk__cmd_modules(argc - 1, argv + 1);
  if (strcmp(cmd, "docs") == 0) return kk__cmd_docs(argc - 1, argv + 1);
  if (strcmp(cmd, "reload") == 0) return kk__cmd_reload(argc - 1, argv + 1);
  if (strcmp(cmd, "journal") == 0) return kk__cmd_journal(argc - 1, argv + 1);
  const kk_command_t *c = kk__registry_command(cmd, NULL);
  if (c) return cmd_module(c, argc - 1, argv + 1);
  fprintf(stderr, "klimakit: unknown command '%s'\n\n", cmd);
  print_main_help(stderr);
  return EXIT_USAGE;
}
