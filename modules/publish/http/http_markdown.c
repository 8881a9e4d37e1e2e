/* modules/publish/http/http_markdown.c - see markdown.h. */
#include "publish/http/http_markdown.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>
#include <stdlib.h>

char *http_markdown_html(const char *md, size_t len) {
  static const char *const exts[] = {"table", "tasklist", "strikethrough",
                                     "autolink"};
  cmark_gfm_core_extensions_ensure_registered();
  int opts = CMARK_OPT_DEFAULT | CMARK_OPT_SMART;
  cmark_parser *p = cmark_parser_new(opts);
  if (!p) return NULL;
  for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
    cmark_syntax_extension *e = cmark_find_syntax_extension(exts[i]);
    if (e) cmark_parser_attach_syntax_extension(p, e);
  }
  cmark_parser_feed(p, md, len);
  cmark_node *doc = cmark_parser_finish(p);
  char *html =
      doc ? cmark_render_html(doc, opts, cmark_parser_get_syntax_extensions(p))
          : NULL;
  if (doc) cmark_node_free(doc);
  cmark_parser_free(p);
  return html;
}
