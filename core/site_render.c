/*
 * core/site_render.c - a page of the site as HTML: the frame with the
 * navigation by audience, the table of contents, the article (headings
 * with their anchors, Lua highlighted) and, beside a playbook, its
 * recipe; and the search index.  See site.h.
 */
#include "site.h"

#include <cmark-gfm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const site_group_label[SITE_NGROUPS] = {
    "Start",       "Kommune: Baukasten", "Kommune: Rezepte", "Betrieb",
    "Integration", "Referenz",           "Weitere"};

const char *const site_group_hint[SITE_NGROUPS] = {
    "",
    "Wo man anfängt, Recht, Beteiligung, Betrieb, Beschaffung",
    "Playbooks mit lauffähigem Rezept",
    "Rezepte betreiben, Daten, Dashboard",
    "Sensoren und Systeme anbinden, Module entwickeln",
    "Module, Optionen, Befehle",
    ""};

static int in_nav(const site_page_t *p) {
  return p->group != SITE_OTHER && !p->listing;
}

static int page_cmp(const site_page_t *a, const site_page_t *b) {
  if (a->group != b->group) return (int)a->group - (int)b->group;
  if (a->rank != b->rank) return a->rank - b->rank;
  return strcmp(a->title, b->title);
}

site_page_t **site_sorted_pages(site_t *s) {
  site_page_t **v = malloc((s->npages + 1) * sizeof *v);
  if (!v) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < s->npages; i++)
    if (in_nav(s->pages[i])) v[n++] = s->pages[i];
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && page_cmp(v[j - 1], v[j]) > 0; j--) {
      site_page_t *t = v[j];
      v[j] = v[j - 1], v[j - 1] = t;
    }
  v[n] = NULL;
  return v;
}

static void link_to(kk_buf_t *b, const site_page_t *from, const char *out) {
  char *rel = site_relpath(from->out, out);
  kk_buf_html(b, rel);
  free(rel);
}

static void nav(site_t *s, kk_buf_t *b, const site_page_t *cur) {
  site_page_t **v = site_sorted_pages(s);
  if (!v) return;
  kk_buf_puts(b, "<nav id=\"nav\" aria-label=\"Navigation\">");
  int open = -1;
  for (size_t i = 0; v[i]; i++) {
    if ((int)v[i]->group != open) {
      if (open >= 0) kk_buf_puts(b, "</ul></section>");
      open = (int)v[i]->group;
      kk_buf_printf(b, "<section><h2>%s</h2>", site_group_label[open]);
      if (site_group_hint[open][0])
        kk_buf_printf(b, "<p class=\"hint\">%s</p>", site_group_hint[open]);
      kk_buf_puts(b, "<ul>");
    }
    kk_buf_puts(b, "<li><a href=\"");
    link_to(b, cur, v[i]->out);
    kk_buf_printf(b, "\"%s hreflang=\"%s\">",
                  v[i] == cur ? " aria-current=\"page\"" : "", v[i]->lang);
    kk_buf_html(b, v[i]->title);
    if (strcmp(v[i]->lang, "de") != 0)
      kk_buf_printf(b, " <span class=\"lang\" title=\"English\">%s</span>",
                    "EN");
    kk_buf_puts(b, "</a></li>");
  }
  if (open >= 0) kk_buf_puts(b, "</ul></section>");
  kk_buf_puts(b, "</nav>");
  free(v);
}

static void toc(kk_buf_t *b, const site_page_t *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->nheads; i++)
    n += p->heads[i].level == 2 || p->heads[i].level == 3;
  if (n < 2 && !p->recipe) return;
  kk_buf_puts(b, "<aside class=\"toc\" aria-label=\"Inhalt dieser Seite\">"
                 "<h2>Auf dieser Seite</h2><ul>");
  for (size_t i = 0; i < p->nheads; i++) {
    const site_heading_t *h = &p->heads[i];
    if (h->level != 2 && h->level != 3) continue;
    kk_buf_printf(b, "<li class=\"l%d\"><a href=\"#", h->level);
    kk_buf_html(b, h->slug);
    kk_buf_puts(b, "\">");
    kk_buf_html(b, h->text);
    kk_buf_puts(b, "</a></li>");
  }
  if (p->recipe)
    kk_buf_puts(b, "<li class=\"l2\"><a href=\"#rezept-quelltext\">"
                   "Das Rezept (recipe.lua)</a></li>");
  kk_buf_puts(b, "</ul></aside>");
}

/* Fenced Lua blocks become highlighted HTML blocks before rendering. */
static void highlight_lua_blocks(cmark_node *doc) {
  cmark_iter *it = cmark_iter_new(doc);
  cmark_node *todo[512];
  size_t n = 0;
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
    cmark_node *c = cmark_iter_get_node(it);
    const char *info = cmark_node_get_type(c) == CMARK_NODE_CODE_BLOCK
                           ? cmark_node_get_fence_info(c)
                           : NULL;
    if (ev == CMARK_EVENT_ENTER && info && strcmp(info, "lua") == 0 && n < 512)
      todo[n++] = c;
  }
  cmark_iter_free(it);
  for (size_t i = 0; i < n; i++) {
    kk_buf_t h = {0};
    kk_buf_puts(&h, "<pre class=\"code lua\"><code>");
    site_lua_html(&h, cmark_node_get_literal(todo[i]));
    kk_buf_puts(&h, "</code></pre>\n");
    cmark_node *hb = cmark_node_new(CMARK_NODE_HTML_BLOCK);
    if (hb && h.p && cmark_node_set_literal(hb, h.p) &&
        cmark_node_replace(todo[i], hb))
      cmark_node_free(todo[i]);
    else if (hb)
      cmark_node_free(hb);
    kk_buf_free(&h);
  }
}

static cmark_node *html_inline(const char *html) {
  cmark_node *n = cmark_node_new(CMARK_NODE_HTML_INLINE);
  if (n && !cmark_node_set_literal(n, html)) {
    cmark_node_free(n);
    return NULL;
  }
  return n;
}

/* Splits text node t at each "[n]" (n in first..last) into text and a
 * link to the n-th source. */
static void link_refs_in(cmark_node *t, int first, int last) {
  kk_buf_t before = {0};
  const char *lit = cmark_node_get_literal(t), *c = lit;
  for (const char *o; (o = strchr(c, '['));) {
    char *end;
    long k = strtol(o + 1, &end, 10);
    if (end == o + 1 || *end != ']' || k < first || k > last) {
      kk_buf_put(&before, c, (size_t)(o + 1 - c));
      c = o + 1;
      continue;
    }
    kk_buf_put(&before, c, (size_t)(o - c));
    char a[96];
    snprintf(a, sizeof a, "<a class=\"ref\" href=\"#quelle-%ld\">[%ld]</a>", k,
             k);
    cmark_node *txt = cmark_node_new(CMARK_NODE_TEXT), *ln = html_inline(a);
    if (!txt || !ln || !cmark_node_set_literal(txt, before.p ? before.p : "")) {
      if (txt) cmark_node_free(txt);
      if (ln) cmark_node_free(ln);
      break;
    }
    cmark_node_insert_before(t, txt);
    cmark_node_insert_before(t, ln);
    before.len = 0;
    c = end + 1;
  }
  kk_buf_puts(&before, c);
  if (c != lit) cmark_node_set_literal(t, before.p ? before.p : "");
  kk_buf_free(&before);
}

/* "[n]" in the text becomes a link to the n-th entry of the numbered
 * list under ## Quellen, whose items get the ids quelle-n. */
static void link_references(const site_page_t *p) {
  cmark_node *q = site_section(p, "Quellen"), *list = NULL;
  for (cmark_node *n = q ? cmark_node_next(q) : NULL; n && !list;
       n = cmark_node_next(n))
    if (cmark_node_get_type(n) == CMARK_NODE_LIST &&
        cmark_node_get_list_type(n) == CMARK_ORDERED_LIST)
      list = n;
  if (!list) return;
  int first = cmark_node_get_list_start(list), k = first;
  for (cmark_node *i = cmark_node_first_child(list); i;
       i = cmark_node_next(i)) {
    cmark_node *para = cmark_node_first_child(i);
    char id[64];
    snprintf(id, sizeof id, "<span id=\"quelle-%d\"></span>", k++);
    cmark_node *span = html_inline(id);
    if (para && span && cmark_node_first_child(para))
      cmark_node_insert_before(cmark_node_first_child(para), span);
    else if (span)
      cmark_node_free(span);
  }
  cmark_node *todo[4096];
  size_t n = 0;
  cmark_iter *it = cmark_iter_new(p->doc);
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE && n < 4096) {
    cmark_node *c = cmark_iter_get_node(it);
    if (c == q) break;
    if (ev == CMARK_EVENT_ENTER && cmark_node_get_type(c) == CMARK_NODE_TEXT &&
        strchr(cmark_node_get_literal(c), '['))
      todo[n++] = c;
  }
  cmark_iter_free(it);
  for (size_t i = 0; i < n; i++)
    link_refs_in(todo[i], first, k - 1);
}

/* cmark writes headings as <hN>: each gets the id its anchor checks
 * used (the headings come in document order). */
static void article(site_t *s, kk_buf_t *b, const site_page_t *p) {
  highlight_lua_blocks(p->doc);
  link_references(p);
  int opts = CMARK_OPT_DEFAULT | CMARK_OPT_SMART | CMARK_OPT_UNSAFE;
  char *html = cmark_render_html(p->doc, opts, s->exts);
  if (!html) {
    b->oom = 1;
    return;
  }
  size_t h = 0;
  const char *c = html;
  for (const char *t; (t = strstr(c, "<h"));) {
    if (t[2] >= '1' && t[2] <= '6' && t[3] == '>' && h < p->nheads) {
      kk_buf_put(b, c, (size_t)(t - c) + 3);
      kk_buf_puts(b, " id=\"");
      kk_buf_html(b, p->heads[h++].slug);
      kk_buf_puts(b, "\">");
      c = t + 4;
    } else {
      kk_buf_put(b, c, (size_t)(t - c) + 2);
      c = t + 2;
    }
  }
  kk_buf_puts(b, c);
  free(html);
}

static void recipe_source(site_t *s, kk_buf_t *b, const site_page_t *p) {
  size_t len;
  char *lua = site_read(s->root, p->recipe, &len);
  if (!lua) {
    site_error(s, p->src, 1, "%s is missing beside the playbook", p->recipe);
    return;
  }
  site_add_file(s, p->recipe);
  kk_buf_puts(b, "<section class=\"recipe-source\" aria-labelledby="
                 "\"rezept-quelltext\"><h2 id=\"rezept-quelltext\">Das Rezept: "
                 "<code>");
  kk_buf_html(b, p->recipe);
  kk_buf_puts(b, "</code></h2><p>So sieht das Rezept aus, das die Schritte "
                 "oben starten (<a href=\"recipe.lua\" download>recipe.lua "
                 "herunterladen</a>).</p><pre class=\"code lua\" lang=\"en\">"
                 "<code>");
  site_lua_html(b, lua);
  kk_buf_puts(b, "</code></pre></section>");
  free(lua);
}

static void head(kk_buf_t *b, const site_page_t *p) {
  kk_buf_puts(b, "<!doctype html>\n<html lang=\"de\"><head>"
                 "<meta charset=\"utf-8\"><meta name=\"viewport\" "
                 "content=\"width=device-width, initial-scale=1\"><title>");
  kk_buf_html(b, p->title);
  kk_buf_puts(b, " – klimakit</title><link rel=\"stylesheet\" href=\"");
  link_to(b, p, "assets/site.css");
  kk_buf_puts(b, "\"><script src=\"");
  link_to(b, p, "assets/search.js");
  kk_buf_puts(b, "\" defer></script></head><body>"
                 "<a class=\"skip\" href=\"#inhalt\">Zum Inhalt</a>"
                 "<header class=\"top\"><a class=\"brand\" href=\"");
  link_to(b, p, "index.html");
  kk_buf_puts(b,
              "\">klimakit <span>Dokumentation</span></a>"
              "<label class=\"navbutton\" for=\"navtoggle\">Menü</label>"
              "<div class=\"search\" role=\"search\"><input id=\"q\" "
              "type=\"search\" placeholder=\"Suchen …\" autocomplete=\"off\" "
              "aria-label=\"Dokumentation durchsuchen\" data-root=\"");
  link_to(b, p, "");
  kk_buf_puts(b,
              "\"><ol id=\"results\" hidden></ol></div></header>"
              "<input type=\"checkbox\" id=\"navtoggle\" class=\"navtoggle\">");
}

int site_render_page(site_t *s, const site_page_t *p) {
  kk_buf_t b = {0};
  head(&b, p);
  kk_buf_printf(&b, "<div class=\"layout%s\">", p->recipe ? " playbook" : "");
  nav(s, &b, p);
  kk_buf_printf(&b, "<main id=\"inhalt\"><article lang=\"%s\">", p->lang);
  if (strcmp(p->lang, "en") == 0)
    kk_buf_puts(&b, "<p class=\"langnote\"><span class=\"lang\">EN</span> "
                    "Diese Seite ist auf Englisch (Referenz für Betrieb und "
                    "Entwicklung).</p>");
  article(s, &b, p);
  kk_buf_puts(&b, "</article>");
  if (p->recipe) recipe_source(s, &b, p);
  kk_buf_puts(&b, "<footer><p>Quelle dieser Seite: <code>");
  kk_buf_html(&b, p->src);
  kk_buf_puts(&b, "</code> · erzeugt mit <code>klimakit docs build</code>"
                  "</p></footer></main>");
  toc(&b, p);
  kk_buf_puts(&b, "</div></body></html>\n");
  int rc = b.oom ? (s->errors++, -1) : site_write(s, p->out, b.p, b.len);
  kk_buf_free(&b);
  return rc;
}

static void index_entry(kk_buf_t *b, const site_page_t *p) {
  kk_buf_puts(b, "{\"u\":\"");
  kk_buf_json(b, p->out);
  kk_buf_puts(b, "\",\"t\":\"");
  kk_buf_json(b, p->title);
  kk_buf_printf(b, "\",\"g\":\"%s\",\"l\":\"%s\",\"h\":[",
                site_group_label[p->group], p->lang);
  for (size_t i = 0; i < p->nheads; i++) {
    kk_buf_puts(b, i ? ",[\"" : "[\"");
    kk_buf_json(b, p->heads[i].slug);
    kk_buf_puts(b, "\",\"");
    kk_buf_json(b, p->heads[i].text);
    kk_buf_puts(b, "\"]");
  }
  kk_buf_puts(b, "],\"x\":\"");
  char *text = site_plaintext(p);
  if (text && strlen(text) > 30000) text[30000] = 0; /* may cut a char */
  kk_buf_json(b, text ? text : "");
  free(text);
  kk_buf_puts(b, "\"}");
}

/* search-index.json for tools, search-index.js for the page's script
 * (a script file loads from file:// too, where fetch() does not). */
int site_write_search_index(site_t *s) {
  kk_buf_t b = {0};
  kk_buf_puts(&b, "[");
  int first = 1;
  for (size_t i = 0; i < s->npages; i++) {
    if (s->pages[i]->listing) continue;
    if (!first) kk_buf_puts(&b, ",\n");
    first = 0;
    index_entry(&b, s->pages[i]);
  }
  kk_buf_puts(&b, "]\n");
  if (b.oom) return kk_buf_free(&b), s->errors++, -1;
  int rc = site_write(s, "search-index.json", b.p, b.len);
  kk_buf_t js = {0};
  kk_buf_puts(&js, "window.KK_SEARCH_INDEX = ");
  kk_buf_put(&js, b.p, b.len);
  if (!js.oom) rc |= site_write(s, "assets/search-index.js", js.p, js.len);
  kk_buf_free(&js);
  kk_buf_free(&b);
  return rc;
}
