/*
 * core/site_assets.c - the site's style sheet (screen and print) and its
 * search script, written to assets/.  The script works offline and from
 * file://: it loads assets/search-index.js, which the build writes
 * beside search-index.json.  See site.h.
 */
#include "site.h"

#include <string.h>

static const char *const site_css[] = {
    ":root{--fg:#1d2327;--muted:#56606a;--bg:#fff;--panel:#f4f6f5;"
    "--line:#d9dedb;--accent:#0b6e4f;--accent-bg:#e3f1eb;--code:#f6f8f7}\n",
    "*{box-sizing:border-box}\n", "html{font-size:100%}\n",
    "body{margin:0;color:var(--fg);background:var(--bg);font:1rem/1.6 "
    "system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif}\n",
    "a{color:var(--accent)}a:hover{text-decoration-thickness:2px}\n",
    ".skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;"
    "background:#fff;padding:4px 8px;z-index:10}\n",
    ".top{display:flex;align-items:center;gap:1rem;padding:.6rem 1.2rem;"
    "border-bottom:1px solid var(--line);background:var(--panel);"
    "position:sticky;top:0;z-index:5}\n",
    ".brand{font-weight:700;font-size:1.15rem;text-decoration:none;"
    "color:var(--fg);white-space:nowrap}.brand span{font-weight:400;"
    "color:var(--muted)}\n",
    ".search{position:relative;margin-left:auto;width:min(26rem,50vw)}\n",
    ".search input{width:100%;padding:.45rem .7rem;font:inherit;border:1px "
    "solid var(--line);border-radius:6px}\n",
    "#results{position:absolute;right:0;left:0;top:2.6rem;margin:0;padding:0;"
    "list-style:none;background:#fff;border:1px solid var(--line);"
    "border-radius:6px;box-shadow:0 6px 24px rgba(0,0,0,.15);max-height:70vh;"
    "overflow:auto}\n",
    "#results li{padding:.5rem .8rem;border-bottom:1px solid var(--line)}\n",
    "#results li a{font-weight:600}#results small{display:block;"
    "color:var(--muted)}\n",
    ".navtoggle,.navbutton{display:none}\n",
    ".layout{display:grid;grid-template-columns:16rem minmax(0,1fr) 14rem;"
    "gap:2rem;max-width:90rem;margin:0 auto;padding:0 1.2rem}\n",
    "nav{padding:1rem 0;font-size:.92rem;position:sticky;top:3.4rem;"
    "align-self:start;max-height:calc(100vh - 3.6rem);overflow:auto}\n",
    "nav h2{font-size:.8rem;text-transform:uppercase;letter-spacing:.05em;"
    "color:var(--muted);margin:1.1rem 0 .2rem}\n",
    "nav .hint{margin:0 0 .3rem;font-size:.8rem;color:var(--muted);"
    "line-height:1.3}\n",
    "nav ul{list-style:none;margin:0;padding:0}\n",
    "nav li a{display:block;padding:.18rem .5rem;border-radius:4px;"
    "text-decoration:none;color:var(--fg)}\n",
    "nav li a:hover{background:var(--accent-bg)}\n",
    "nav a[aria-current]{background:var(--accent-bg);color:var(--accent);"
    "font-weight:600}\n",
    ".lang{display:inline-block;font-size:.68rem;font-weight:600;"
    "border:1px solid var(--line);border-radius:3px;padding:0 .25rem;"
    "color:var(--muted);vertical-align:middle}\n",
    ".langnote{font-size:.88rem;color:var(--muted)}\n",
    "main{min-width:0;padding:1rem 0 3rem}\n", "article{max-width:48rem}\n",
    "article h1{font-size:2rem;line-height:1.2;margin:.6rem 0 1rem}\n",
    "h2{font-size:1.45rem;margin-top:2.2rem;border-bottom:1px solid "
    "var(--line);padding-bottom:.2rem}h3{font-size:1.15rem;margin-top:1.6rem}"
    "\n",
    "h1,h2,h3,h4,[id^=quelle-]{scroll-margin-top:4rem}\n",
    ".ref{text-decoration:none}\n",
    ":target{background:linear-gradient(var(--accent-bg),var(--accent-bg)) "
    "no-repeat left/4px 100%}\n",
    "code{font:.9em/1.4 ui-monospace,'DejaVu Sans Mono',Menlo,monospace;"
    "background:var(--code);padding:.1em .25em;border-radius:3px}\n",
    "pre{background:var(--code);border:1px solid var(--line);"
    "border-radius:6px;padding:.8rem 1rem;overflow:auto;line-height:1.45}\n",
    "pre code{background:none;padding:0;font-size:.86rem}\n",
    "td code{white-space:nowrap}\n",
    /* Long URLs and paths in text (a playbook's sources) wrap instead of
     * widening a phone's page. */
    "article p,article li{overflow-wrap:anywhere}\n",
    "table{border-collapse:collapse;display:block;overflow-x:auto;"
    "margin:1rem 0}\n",
    "th,td{border:1px solid var(--line);padding:.35rem .6rem;"
    "vertical-align:top;text-align:left}th{background:var(--panel)}\n",
    "blockquote{margin:1rem 0;padding:.2rem 1rem;border-left:4px solid "
    "var(--accent);background:var(--panel)}\n",
    ".toc{padding:1rem 0;font-size:.86rem;position:sticky;top:3.4rem;"
    "align-self:start;max-height:calc(100vh - 3.6rem);overflow:auto}\n",
    ".toc h2{font-size:.8rem;text-transform:uppercase;letter-spacing:.05em;"
    "color:var(--muted);border:0;margin:0 0 .4rem}\n",
    ".toc ul{list-style:none;margin:0;padding:0}.toc li{margin:.15rem 0}\n",
    ".toc li.l3{padding-left:.9rem}.toc a{text-decoration:none}\n",
    ".recipe-source{max-width:48rem;margin-top:2.5rem}\n",
    ".code .c{color:#6a737d;font-style:italic}.code .s{color:#0a5a2f}\n",
    ".code .n{color:#8a3b00}.code .k{color:#6f2da8;font-weight:600}\n",
    ".code .f{color:#005cc5}\n",
    "footer{margin-top:3rem;font-size:.82rem;color:var(--muted);"
    "border-top:1px solid var(--line)}\n",
    "@media (min-width:1700px){.layout.playbook{max-width:118rem;"
    "grid-template-columns:16rem minmax(0,48rem) minmax(0,1fr) 14rem}\n",
    ".layout.playbook main{display:contents}\n",
    ".layout.playbook article{grid-column:2;padding:1rem 0 3rem}\n",
    ".layout.playbook .recipe-source{grid-column:3;grid-row:1;position:sticky;"
    "top:3.4rem;align-self:start;max-height:calc(100vh - 4rem);overflow:auto;"
    "margin:0;padding-top:1rem}\n",
    ".layout.playbook footer{grid-column:2}.layout.playbook .toc{grid-column:4;"
    "grid-row:1}}\n",
    "@media (max-width:1100px){.layout{grid-template-columns:14rem "
    "minmax(0,1fr);grid-template-rows:auto 1fr;grid-template-areas:"
    "'nav toc' 'nav main'}nav{grid-area:nav}.toc{grid-area:toc;"
    "position:static;max-height:none;border:1px solid var(--line);"
    "border-radius:6px;padding:.6rem .9rem;margin-top:1rem}"
    "main{grid-area:main}}\n",
    "@media (max-width:760px){.layout{display:flex;flex-direction:column;"
    "padding:0 .9rem}nav{order:-2}.toc{order:-1;align-self:stretch}\n",
    ".navbutton{display:inline-block;border:1px solid var(--line);"
    "border-radius:6px;padding:.3rem .6rem;cursor:pointer;background:#fff}\n",
    ".top{flex-wrap:wrap;gap:.5rem;padding:.5rem .9rem}.search{width:100%;"
    "order:3}\n",
    "nav{display:none;position:static;max-height:none;border-bottom:1px "
    "solid var(--line)}\n",
    ".navtoggle:checked+.layout nav{display:block}\n",
    ".toc{margin-top:.8rem}article h1{font-size:1.6rem}"
    "pre code{font-size:.8rem}}\n",
    "@media print{.top,nav,.toc,.skip,.navtoggle,#results{display:none!"
    "important}\n",
    ".layout{display:block;max-width:none;padding:0}\n",
    "body{font:11pt/1.45 Georgia,'DejaVu Serif',serif;color:#000}\n",
    "a{color:#000}article a[href^='http']::after{content:' (' attr(href) ')';"
    "font-size:.85em;word-break:break-all}\n",
    "pre,table,blockquote,figure{break-inside:avoid}h2,h3{break-after:avoid}\n",
    "pre{white-space:pre-wrap;border-color:#999}\n",
    ".recipe-source{break-before:page}footer{border-top:1px solid #999}}\n",
    NULL};

static const char *const search_js[] = {
    "/* klimakit docs: offline search over assets/search-index.js. */\n",
    "(function(){\n",
    "'use strict';\n",
    "var q=document.getElementById('q'),out=document.getElementById("
    "'results');\n",
    "if(!q||!out)return;\n",
    "var root=q.getAttribute('data-root')||'',index=null,timer=0;\n",
    "function load(then){if(index)return then();if(window.KK_SEARCH_INDEX){"
    "index=window.KK_SEARCH_INDEX;return then();}\n",
    " var s=document.createElement('script');s.src=root+'assets/"
    "search-index.js';\n",
    " s.onload=function(){index=window.KK_SEARCH_INDEX||[];then();};\n",
    " s.onerror=function(){index=[];then();};document.head.appendChild(s);}\n",
    "function fold(t){return t.toLowerCase().normalize('NFD').replace("
    "/[\\u0300-\\u036f]/g,'').replace(/\\u00df/g,'ss');}\n",
    "function score(d,words){var t=fold(d.t),x=d._x||(d._x=fold(d.x)),"
    "total=0,best=null;\n",
    " for(var i=0;i<words.length;i++){var w=words[i],s=0;\n",
    "  if(t.indexOf(w)>=0)s+=10;\n",
    "  for(var j=0;j<d.h.length;j++){if(fold(d.h[j][1]).indexOf(w)>=0){s+=4;"
    "if(!best)best=d.h[j];}}\n",
    "  if(x.indexOf(w)>=0)s+=1+Math.min(5,x.split(w).length-1)/5;\n",
    "  if(!s)return null;total+=s;}\n",
    " return {d:d,s:total,h:best};}\n",
    "function snippet(d,w){var x=d.x,i=d._x.indexOf(w);if(i<0)return "
    "x.slice(0,140);\n",
    " var a=Math.max(0,i-60);return (a?'… ':'')+x.slice(a,a+160)+' …';}\n",
    "function show(){var words=fold(q.value).split(/\\s+/).filter(function(w)"
    "{return w.length>1;});\n",
    " out.innerHTML='';if(!words.length){out.hidden=true;return;}\n",
    " var hits=[];index.forEach(function(d){var r=score(d,words);if(r)hits."
    "push(r);});\n",
    " hits.sort(function(a,b){return b.s-a.s;});\n",
    " if(!hits.length){var li=document.createElement('li');li.textContent="
    "'Keine Treffer.';out.appendChild(li);}\n",
    " hits.slice(0,12).forEach(function(r){var li=document.createElement("
    "'li'),a=document.createElement('a');\n",
    "  a.href=root+r.d.u+(r.h?'#'+r.h[0]:'');a.textContent=r.d.t+(r.h&&r.h[1]"
    "!==r.d.t?' › '+r.h[1]:'');\n",
    "  if(r.d.l!=='de'){a.lang=r.d.l;}\n",
    "  var sm=document.createElement('small');sm.textContent=r.d.g+(r.d.l!=="
    "'de'?' · EN':'')+' — '+snippet(r.d,words[0]);\n",
    "  li.appendChild(a);li.appendChild(sm);out.appendChild(li);});\n",
    " out.hidden=false;}\n",
    "q.addEventListener('input',function(){clearTimeout(timer);timer="
    "setTimeout(function(){load(show);},80);});\n",
    "q.addEventListener('keydown',function(e){if(e.key==='Escape'){q.value='';"
    "show();}\n",
    " if(e.key==='Enter'){var a=out.querySelector('a');if(a)location.href="
    "a.href;}});\n",
    "document.addEventListener('keydown',function(e){if(e.key==='/'&&"
    "document.activeElement!==q){e.preventDefault();q.focus();}});\n",
    "})();\n",
    NULL};

static int write_lines(site_t *s, const char *rel, const char *const *lines) {
  kk_buf_t b = {0};
  for (; *lines; lines++)
    kk_buf_puts(&b, *lines);
  int rc = b.oom ? -1 : site_write(s, rel, b.p, b.len);
  kk_buf_free(&b);
  return rc;
}

int site_write_assets(site_t *s) {
  int rc = write_lines(s, "assets/site.css", site_css);
  rc |= write_lines(s, "assets/search.js", search_js);
  rc |= site_write(s, ".klimakit-site", "klimakit docs build\n", 20);
  return rc;
}
