/*
 * core/site_page.c - one page of the site: parsed with cmark-gfm, its
 * headings (with GitHub-style anchors), its links, and the playbook
 * check.  See site.h.
 */
#include "site.h"

#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>
#include <stdlib.h>
#include <string.h>

/* The playbook template (docs/kommune/playbook-vorlage.md): these level-2
 * headings, exactly and in this order. */
static const char *const playbook_sections[] = {
    "Ziel und Nutzen",
    "Für wen",
    "Was man braucht",
    "Schritt für Schritt",
    "Datenschutz und Recht",
    "Beteiligung",
    "Betrieb",
    "Stolpersteine aus anderen Städten",
    "Woran man Erfolg erkennt",
    "Quellen"};
#define NSECTIONS (sizeof playbook_sections / sizeof *playbook_sections)

static int node_line(cmark_node *n) {
  for (; n; n = cmark_node_parent(n)) {
    int l = cmark_node_get_start_line(n);
    if (l > 0) return l;
  }
  return 1;
}

static void node_text(kk_buf_t *b, cmark_node *n) {
  for (cmark_node *c = cmark_node_first_child(n); c; c = cmark_node_next(c)) {
    cmark_node_type t = cmark_node_get_type(c);
    if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE)
      kk_buf_puts(b, cmark_node_get_literal(c));
    else if (t == CMARK_NODE_SOFTBREAK || t == CMARK_NODE_LINEBREAK)
      kk_buf_puts(b, " ");
    else
      node_text(b, c);
  }
}

/* GitHub's anchor: lower case, letters, digits, '-' and '_' kept, spaces
 * to '-', other punctuation dropped; bytes of other UTF-8 letters kept
 * (German capitals lowered). */
static char *slugify(const char *text) {
  kk_buf_t b = {0};
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c >= 'A' && *c <= 'Z')
      kk_buf_printf(&b, "%c", *c - 'A' + 'a');
    else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
             *c == '-' || *c == '_')
      kk_buf_printf(&b, "%c", *c);
    else if (*c == ' ')
      kk_buf_puts(&b, "-");
    else if (*c == 0xC3 && (c[1] == 0x84 || c[1] == 0x96 || c[1] == 0x9C)) {
      kk_buf_printf(&b, "%c%c", 0xC3, c[1] + 0x20);
      c++;
    } else if (*c == 0xE2 && c[1] == 0x80 && c[2])
      c += 2; /* General Punctuation (dashes, quotes, ...): dropped */
    else if (*c == 0xC2 && c[1] >= 0xA1 && c[1] <= 0xBF)
      c += 1; /* Latin-1 punctuation and signs (« » · § °): dropped */
    else if (*c >= 0x80)
      kk_buf_put(&b, (const char *)c, 1);
  }
  if (!b.p) kk_buf_puts(&b, "");
  return b.p;
}

int site_has_anchor(const site_page_t *p, const char *slug) {
  for (size_t i = 0; i < p->nheads; i++)
    if (strcmp(p->heads[i].slug, slug) == 0) return 1;
  return 0;
}

static void add_heading(site_page_t *p, cmark_node *n) {
  site_heading_t *nh = realloc(p->heads, (p->nheads + 1) * sizeof *nh);
  if (!nh) return;
  p->heads = nh;
  kk_buf_t t = {0};
  node_text(&t, n);
  if (!t.p) kk_buf_puts(&t, "");
  site_heading_t *h = &p->heads[p->nheads];
  h->text = t.p;
  h->level = cmark_node_get_heading_level(n);
  h->line = node_line(n);
  char *slug = slugify(t.p);
  /* Repeated headings get -1, -2, ... as on GitHub. */
  kk_buf_t u = {0};
  kk_buf_puts(&u, slug);
  for (int k = 1; site_has_anchor(p, u.p); k++) {
    u.len = 0;
    kk_buf_printf(&u, "%s-%d", slug, k);
  }
  free(slug);
  h->slug = u.p;
  p->nheads++;
  if (h->level == 1 && !p->title) p->title = strdup(h->text);
}

static void add_link(site_page_t *p, cmark_node *n) {
  site_link_t *nl = realloc(p->links, (p->nlinks + 1) * sizeof *nl);
  if (!nl) return;
  p->links = nl;
  p->links[p->nlinks].node = n;
  p->links[p->nlinks].line = node_line(n);
  p->nlinks++;
}

static void scan(site_page_t *p) {
  cmark_iter *it = cmark_iter_new(p->doc);
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
    if (ev != CMARK_EVENT_ENTER) continue;
    cmark_node *n = cmark_iter_get_node(it);
    cmark_node_type t = cmark_node_get_type(n);
    if (t == CMARK_NODE_HEADING)
      add_heading(p, n);
    else if (t == CMARK_NODE_LINK || t == CMARK_NODE_IMAGE)
      add_link(p, n);
  }
  cmark_iter_free(it);
}

int site_parse(site_t *s, site_page_t *p) {
  int opts = CMARK_OPT_DEFAULT | CMARK_OPT_SMART | CMARK_OPT_UNSAFE;
  cmark_parser *ps = cmark_parser_new(opts);
  if (!ps) return s->errors++, -1;
  for (cmark_llist *e = s->exts; e; e = e->next)
    cmark_parser_attach_syntax_extension(ps, e->data);
  cmark_parser_feed(ps, p->md, strlen(p->md));
  p->doc = cmark_parser_finish(ps);
  cmark_parser_free(ps);
  if (!p->doc) return s->errors++, -1;
  scan(p);
  if (!p->title) {
    const char *base = strrchr(p->src, '/');
    p->title = strdup(base ? base + 1 : p->src);
  }
  return 0;
}

void site_page_free(site_page_t *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nheads; i++)
    free(p->heads[i].slug), free(p->heads[i].text);
  free(p->heads);
  free(p->links);
  if (p->doc) cmark_node_free(p->doc);
  free(p->src), free(p->out), free(p->title), free(p->md);
  free(p->recipe), free(p->listing);
  free(p);
}

char *site_plaintext(const site_page_t *p) {
  if (!p->doc) return strdup("");
  return cmark_render_plaintext(p->doc, CMARK_OPT_DEFAULT, 0);
}

static int section_index(const char *text) {
  for (size_t i = 0; i < NSECTIONS; i++)
    if (strcmp(text, playbook_sections[i]) == 0) return (int)i;
  return -1;
}

/* Quellen must hold at least one source: a list item or a link. */
static int quellen_has_source(cmark_node *heading) {
  for (cmark_node *n = cmark_node_next(heading); n; n = cmark_node_next(n)) {
    cmark_node_type t = cmark_node_get_type(n);
    if (t == CMARK_NODE_HEADING && cmark_node_get_heading_level(n) <= 2) break;
    if (t == CMARK_NODE_LIST || t == CMARK_NODE_FOOTNOTE_DEFINITION) return 1;
    cmark_iter *it = cmark_iter_new(n);
    int found = 0;
    while (cmark_iter_next(it) != CMARK_EVENT_DONE)
      if (cmark_node_get_type(cmark_iter_get_node(it)) == CMARK_NODE_LINK)
        found = 1;
    cmark_iter_free(it);
    if (found) return 1;
  }
  return 0;
}

static void check_title(site_t *s, const site_page_t *p) {
  cmark_node *first = cmark_node_first_child(p->doc);
  if (!first || cmark_node_get_type(first) != CMARK_NODE_HEADING ||
      cmark_node_get_heading_level(first) != 1 ||
      cmark_node_get_start_line(first) != 1)
    site_error(s, p->src, 1, "a playbook starts with `# <Titel>`");
  else if (!cmark_node_next(first) ||
           cmark_node_get_type(cmark_node_next(first)) != CMARK_NODE_PARAGRAPH)
    site_error(s, p->src, 2,
               "a playbook has a one-paragraph summary below its title");
}

cmark_node *site_section(const site_page_t *p, const char *text) {
  for (cmark_node *n = cmark_node_first_child(p->doc); n;
       n = cmark_node_next(n)) {
    if (cmark_node_get_type(n) != CMARK_NODE_HEADING ||
        cmark_node_get_heading_level(n) != 2)
      continue;
    kk_buf_t t = {0};
    node_text(&t, n);
    int same = t.p && strcmp(t.p, text) == 0;
    kk_buf_free(&t);
    if (same) return n;
  }
  return NULL;
}

static void check_steps_run(site_t *s, const site_page_t *p) {
  cmark_node *h = site_section(p, "Schritt für Schritt");
  if (!h) return;
  for (cmark_node *n = cmark_node_next(h); n; n = cmark_node_next(n)) {
    if (cmark_node_get_type(n) == CMARK_NODE_HEADING &&
        cmark_node_get_heading_level(n) <= 2)
      break;
    /* The block may sit inside a list item ("1. Rezept starten:"). */
    cmark_iter *it = cmark_iter_new(n);
    int found = 0;
    for (cmark_event_type ev;
         !found && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
      cmark_node *c = cmark_iter_get_node(it);
      const char *info = ev == CMARK_EVENT_ENTER &&
                                 cmark_node_get_type(c) == CMARK_NODE_CODE_BLOCK
                             ? cmark_node_get_fence_info(c)
                             : NULL;
      found = info && strcmp(info, "sh") == 0;
    }
    cmark_iter_free(it);
    if (found) return;
  }
  site_error(s, p->src, node_line(h),
             "'## Schritt für Schritt' has no ```sh block (the commands "
             "tests/e2e/test_playbooks.sh runs)");
}

/* Every [n] in the text before `## Quellen` names an entry of its first
 * numbered list. */
void site_check_references(site_t *s, const site_page_t *p) {
  cmark_node *q = site_section(p, "Quellen");
  if (!q) return;
  int first = 1, count = 0;
  for (cmark_node *n = cmark_node_next(q); n; n = cmark_node_next(n)) {
    if (cmark_node_get_type(n) == CMARK_NODE_HEADING) break;
    if (cmark_node_get_type(n) == CMARK_NODE_LIST &&
        cmark_node_get_list_type(n) == CMARK_ORDERED_LIST) {
      first = cmark_node_get_list_start(n);
      for (cmark_node *i = cmark_node_first_child(n); i; i = cmark_node_next(i))
        count++;
      break;
    }
  }
  cmark_iter *it = cmark_iter_new(p->doc);
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
    cmark_node *n = cmark_iter_get_node(it);
    if (n == q) break;
    if (ev != CMARK_EVENT_ENTER || cmark_node_get_type(n) != CMARK_NODE_TEXT)
      continue;
    for (const char *c = cmark_node_get_literal(n); (c = strchr(c, '['));) {
      char *end;
      long k = strtol(c + 1, &end, 10);
      if (end > c + 1 && *end == ']' && (k < first || k >= first + count))
        site_error(s, p->src, node_line(n),
                   "reference [%ld] has no entry in the numbered list "
                   "under '## Quellen' (it has %d)",
                   k, count);
      c = end > c + 1 ? end : c + 1;
    }
  }
  cmark_iter_free(it);
}

void site_check_playbook(site_t *s, const site_page_t *p) {
  size_t want = 0;
  int last_line = 1;
  check_title(s, p);
  for (cmark_node *n = cmark_node_first_child(p->doc); n;
       n = cmark_node_next(n)) {
    last_line = node_line(n);
    if (cmark_node_get_type(n) != CMARK_NODE_HEADING ||
        cmark_node_get_heading_level(n) != 2)
      continue;
    kk_buf_t t = {0};
    node_text(&t, n);
    int k = section_index(t.p ? t.p : "");
    if (k < 0)
      site_error(s, p->src, last_line,
                 "section '## %s' is not in the playbook template "
                 "(use ### for a subsection)",
                 t.p ? t.p : "");
    else if ((size_t)k < want)
      site_error(s, p->src, last_line,
                 "section '## %s' is out of order: it belongs before '## %s'",
                 t.p, playbook_sections[want - 1]);
    else {
      for (; want < (size_t)k; want++)
        site_error(s, p->src, last_line,
                   "section '## %s' is missing (it comes before '## %s')",
                   playbook_sections[want], t.p);
      want = (size_t)k + 1;
      if (k == (int)NSECTIONS - 1 && !quellen_has_source(n))
        site_error(s, p->src, last_line,
                   "'## Quellen' lists no source (a list item or a link)");
    }
    kk_buf_free(&t);
  }
  for (; want < NSECTIONS; want++)
    site_error(s, p->src, last_line, "section '## %s' is missing",
               playbook_sections[want]);
  check_steps_run(s, p);
}
