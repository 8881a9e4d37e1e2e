/*
 * core/site.h - `klimakit docs build`: the static documentation site
 * (core/site*.c).  Internal to those files.
 *
 * Pages are Markdown files of the repository (docs/..., recipes/x/
 * playbook.md and the Markdown files they link to outside docs/), parsed
 * once with cmark-gfm.  Every link is resolved against the repository
 * and rewritten to the page or copied file it names; a link or anchor
 * that names nothing is an error reported as `file:line: error: ...`.
 */
#ifndef KK_CORE_SITE_H
#define KK_CORE_SITE_H

#include <klimakit/text.h>
#include <stddef.h>

#include <cmark-gfm.h>

typedef enum {
  SITE_START,
  SITE_KOMMUNE,
  SITE_RECIPES,
  SITE_BETRIEB,
  SITE_INTEGRATION,
  SITE_REFERENZ,
  SITE_OTHER,
  SITE_NGROUPS
} site_group_t;

typedef struct {
  char *slug, *text;
  int level, line;
} site_heading_t;

typedef struct {
  cmark_node *node;
  int line;
} site_link_t;

typedef struct {
  char *src;        /* repository path: docs/guide/x.md */
  char *out;        /* site path: guide/x.html */
  char *title;      /* first level-1 heading, else the file name */
  const char *lang; /* "de" or "en" */
  site_group_t group;
  int rank; /* order inside its group */
  char *md; /* the Markdown text */
  cmark_node *doc;
  site_heading_t *heads;
  size_t nheads;
  site_link_t *links;
  size_t nlinks;
  char *recipe;  /* playbooks: repository path of recipe.lua */
  char *listing; /* folder views: the repository folder listed */
} site_page_t;

typedef struct {
  const char *root; /* repository root */
  const char *out;  /* output folder */
  site_page_t **pages;
  size_t npages;
  char **files; /* repository paths copied into the site */
  size_t nfiles;
  int errors;
  int tty;
  cmark_llist *exts;
} site_t;

/* site.c */
int kk__cmd_docs(int argc, char **argv);
void site_error(site_t *s, const char *file, int line, const char *fmt, ...)
    KK_PRINTF(4, 5);
char *site_read(const char *root, const char *rel, size_t *len);
int site_write(site_t *s, const char *rel, const char *data, size_t len);
site_page_t *site_find(site_t *s, const char *src);
site_page_t *site_find_out(site_t *s, const char *out);
/* Adds a page for the Markdown file at repository path src (text md,
 * taken over); NULL when it is there already (then md is freed). */
site_page_t *site_add_page(site_t *s, const char *src, char *md);
char *site_out_path(const char *src);

/* site_page.c: parsing, headings, links, the playbook check */
int site_parse(site_t *s, site_page_t *p);
void site_page_free(site_page_t *p);
int site_has_anchor(const site_page_t *p, const char *slug);
void site_check_playbook(site_t *s, const site_page_t *p);
void site_check_references(site_t *s, const site_page_t *p);
/* The level-2 heading called `text`, or NULL. */
cmark_node *site_section(const site_page_t *p, const char *text);
char *site_plaintext(const site_page_t *p);

/* site_links.c: resolving and rewriting links */
void site_resolve_links(site_t *s, site_page_t *p);
char *site_relpath(const char *from_out, const char *to_out);
int site_add_file(site_t *s, const char *src);

/* site_render.c: pages, navigation, the search index */
extern const char *const site_group_label[SITE_NGROUPS];
extern const char *const site_group_hint[SITE_NGROUPS];
/* The pages of the navigation in its order, NULL-ended (caller frees). */
site_page_t **site_sorted_pages(site_t *s);
int site_render_page(site_t *s, const site_page_t *p);
int site_write_search_index(site_t *s);
void site_lua_html(kk_buf_t *b, const char *src);

/* site_assets.c */
int site_write_assets(site_t *s);

#endif
