/* core/lua_pattern.c - Lua 5.4 patterns under the sandbox's budget.
 *
 * A backtracking matcher over the pattern text, written from the
 * reference manual's section 6.4.1: single-character classes (`.`, %a %c
 * %d %g %l %p %s %u %w %x and their upper-case complements, %<symbol>,
 * sets with ranges, classes and ^), the quantifiers * + - ?, the anchors
 * ^ and $, captures (position captures included), back-references
 * %1-%9, %bxy and %f[set].  Errors read like the stock library's, since
 * users see them ("malformed pattern (missing ']')").
 *
 * Every step (entering the matcher, testing one character in a
 * repetition, one subject position of a scan, one replacement) is
 * counted; every PAT_CHARGE steps the count goes to kk__lua_charge(),
 * which adds it to the call's instruction budget and raises the
 * deadline/budget error.  Recursion is bounded as in the stock library
 * (200 nested matcher calls: "pattern too complex"). */
#include "lua_pattern.h"
#include "lua_sandbox.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stddef.h>
#include <string.h>

#define PAT_MAXCAP 32 /* the stock LUA_MAXCAPTURES */
#define PAT_MAXDEPTH 200
#define PAT_CHARGE 1024
#define CAP_OPEN (-1)
#define CAP_POS (-2)

typedef struct pat {
  lua_State *L;
  const char *fn;      /* "string.find", for the bound's message */
  const char *s0, *se; /* the subject */
  const char *pe;      /* the pattern's end */
  int depth;           /* nested matcher calls left */
  int ncap;            /* captures opened so far */
  unsigned tick;       /* steps not yet charged */
  struct {
    const char *at;
    ptrdiff_t len; /* or CAP_OPEN, CAP_POS */
  } cap[PAT_MAXCAP];
} pat_t;

#define UC(c) ((unsigned char)(c))

static void pat_charge(pat_t *m, unsigned n) {
  m->tick += n;
  if (m->tick >= PAT_CHARGE) {
    unsigned t = m->tick;
    m->tick = 0;
    kk__lua_charge(m->L, t, m->fn);
  }
}

static void pat_init(pat_t *m, lua_State *L, const char *fn, const char *s,
                     size_t ls, const char *p, size_t lp) {
  m->L = L;
  m->fn = fn;
  m->s0 = s;
  m->se = s + ls;
  m->pe = p + lp;
  m->tick = 0;
  m->ncap = 0;
  m->depth = PAT_MAXDEPTH;
}

static void pat_reset(pat_t *m) {
  m->ncap = 0;
  m->depth = PAT_MAXDEPTH;
}

/* ---- single characters ------------------------------------------------- */

/* Does c belong to the class letter cl (%a, %D, ...)?  A non-class
 * character after % stands for itself. */
static int class_has(int c, int cl) {
  int r;
  switch (tolower(cl)) {
  case 'a':
    r = isalpha(c);
    break;
  case 'c':
    r = iscntrl(c);
    break;
  case 'd':
    r = isdigit(c);
    break;
  case 'g':
    r = isgraph(c);
    break;
  case 'l':
    r = islower(c);
    break;
  case 'p':
    r = ispunct(c);
    break;
  case 's':
    r = isspace(c);
    break;
  case 'u':
    r = isupper(c);
    break;
  case 'w':
    r = isalnum(c);
    break;
  case 'x':
    r = isxdigit(c);
    break;
  case 'z': /* Lua 5.1's class of '\0', which 5.4 still accepts */
    r = c == 0;
    break;
  default:
    return cl == c;
  }
  r = r != 0;
  return isupper(cl) ? !r : r;
}

/* Does c belong to the set from '[' at p to its ']' at close? */
static int set_has(int c, const char *p, const char *close) {
  int in = 1;
  p++;
  if (*p == '^') {
    in = 0;
    p++;
  }
  for (; p < close; p++) {
    if (*p == '%') {
      p++;
      if (class_has(c, UC(*p))) return in;
    } else if (p[1] == '-' && p + 2 < close) {
      if (UC(p[0]) <= c && c <= UC(p[2])) return in;
      p += 2;
    } else if (UC(*p) == c) {
      return in;
    }
  }
  return !in;
}

/* The end of the single-character class starting at p. */
static const char *class_end(pat_t *m, const char *p) {
  char ch = *p++;
  if (ch == '%') {
    if (p >= m->pe) luaL_error(m->L, "malformed pattern (ends with '%%')");
    return p + 1;
  }
  if (ch != '[') return p;
  if (p < m->pe && *p == '^') p++;
  for (;;) { /* the first character is a member even when it is ']' */
    if (p >= m->pe) luaL_error(m->L, "malformed pattern (missing ']')");
    if (*p++ == '%' && p < m->pe) p++;
    if (p < m->pe && *p == ']') return p + 1;
  }
}

/* Does the class [p, ep) match the subject character at s? */
static int one(const pat_t *m, const char *s, const char *p, const char *ep) {
  if (s >= m->se) return 0;
  int c = UC(*s);
  switch (*p) {
  case '.':
    return 1;
  case '%':
    return class_has(c, UC(p[1]));
  case '[':
    return set_has(c, p, ep - 1);
  default:
    return UC(*p) == c;
  }
}

/* ---- the matcher ----------------------------------------------------------
 */

static const char *run(pat_t *m, const char *s, const char *p);

static const char *cap_open(pat_t *m, const char *s, const char *p, int how) {
  if (m->ncap >= PAT_MAXCAP) luaL_error(m->L, "too many captures");
  m->cap[m->ncap].at = s;
  m->cap[m->ncap].len = how;
  m->ncap++;
  const char *r = run(m, s, p);
  if (!r) m->ncap--;
  return r;
}

static const char *cap_close(pat_t *m, const char *s, const char *p) {
  int l = m->ncap - 1;
  while (l >= 0 && m->cap[l].len != CAP_OPEN)
    l--;
  if (l < 0) luaL_error(m->L, "invalid pattern capture");
  m->cap[l].len = s - m->cap[l].at;
  const char *r = run(m, s, p);
  if (!r) m->cap[l].len = CAP_OPEN;
  return r;
}

/* %bxy at p (just past "%b"). */
static const char *balanced(pat_t *m, const char *s, const char *p) {
  if (p + 1 >= m->pe)
    luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= m->se || *s != p[0]) return NULL;
  int open = 1;
  while (++s < m->se) {
    pat_charge(m, 1);
    if (*s == p[1]) {
      if (--open == 0) return s + 1;
    } else if (*s == p[0]) {
      open++;
    }
  }
  return NULL;
}

/* %1-%9 (k is the digit); %0 is not a capture. */
static const char *backref(pat_t *m, const char *s, int k) {
  int l = k - '1';
  if (l < 0 || l >= m->ncap || m->cap[l].len == CAP_OPEN)
    luaL_error(m->L, "invalid capture index %%%d", l + 1);
  ptrdiff_t len = m->cap[l].len;
  if (len < 0 || m->se - s < len) return NULL; /* a position never matches */
  pat_charge(m, (unsigned)(len / 64));
  return memcmp(m->cap[l].at, s, (size_t)len) == 0 ? s + len : NULL;
}

/* c* (or c+ after its first): as many as possible, then back off. */
static const char *greedy(pat_t *m, const char *s, const char *p,
                          const char *ep) {
  ptrdiff_t n = 0;
  while (one(m, s + n, p, ep)) {
    n++;
    pat_charge(m, 1);
  }
  for (; n >= 0; n--) {
    const char *r = run(m, s + n, ep + 1);
    if (r) return r;
  }
  return NULL;
}

/* c-: as few as possible. */
static const char *lazy(pat_t *m, const char *s, const char *p,
                        const char *ep) {
  for (;;) {
    const char *r = run(m, s, ep + 1);
    if (r) return r;
    if (!one(m, s, p, ep)) return NULL;
    s++;
  }
}

/* %f[set] at p (just past "%f"): the set must not hold the previous
 * character and must hold the next (the subject's ends count as '\0'). */
static const char *frontier(pat_t *m, const char *s, const char *p) {
  if (p >= m->pe || *p != '[')
    luaL_error(m->L, "missing '[' after '%%f' in pattern");
  const char *ep = class_end(m, p);
  int prev = s == m->s0 ? 0 : UC(s[-1]);
  int next = s < m->se ? UC(*s) : 0;
  if (!set_has(prev, p, ep - 1) && set_has(next, p, ep - 1)) return ep;
  return NULL;
}

/* Matches the pattern from p against the subject from s: the end of the
 * match or NULL.  Items that need no backtracking loop here; captures,
 * repetitions and '?' recurse. */
static const char *run_items(pat_t *m, const char *s, const char *p) {
  for (;;) {
    pat_charge(m, 1);
    if (p == m->pe) return s;
    const char *ep;
    switch (*p) {
    case '(':
      if (p + 1 < m->pe && p[1] == ')') return cap_open(m, s, p + 2, CAP_POS);
      return cap_open(m, s, p + 1, CAP_OPEN);
    case ')':
      return cap_close(m, s, p + 1);
    case '$':
      if (p + 1 == m->pe) return s == m->se ? s : NULL;
      break;
    case '%':
      if (p + 1 >= m->pe) break;
      if (p[1] == 'b') {
        s = balanced(m, s, p + 2);
        if (!s) return NULL;
        p += 4;
        continue;
      }
      if (p[1] == 'f') {
        ep = frontier(m, s, p + 2);
        if (!ep) return NULL;
        p = ep;
        continue;
      }
      if (isdigit(UC(p[1]))) {
        s = backref(m, s, UC(p[1]));
        if (!s) return NULL;
        p += 2;
        continue;
      }
      break;
    }
    ep = class_end(m, p);
    int q = ep < m->pe ? *ep : 0;
    if (!one(m, s, p, ep)) {
      if (q != '*' && q != '?' && q != '-') return NULL;
      p = ep + 1; /* zero repetitions */
      continue;
    }
    switch (q) {
    case '?': {
      const char *r = run(m, s + 1, ep + 1);
      if (r) return r;
      p = ep + 1;
      continue;
    }
    case '+':
      return greedy(m, s + 1, p, ep);
    case '*':
      return greedy(m, s, p, ep);
    case '-':
      return lazy(m, s, p, ep);
    default:
      s++;
      p = ep;
    }
  }
}

static const char *run(pat_t *m, const char *s, const char *p) {
  if (m->depth-- == 0) luaL_error(m->L, "pattern too complex");
  const char *r = run_items(m, s, p);
  m->depth++;
  return r;
}

/* ---- captures to Lua ------------------------------------------------------
 */

/* Pushes capture i of the match [s, e); capture 0 of a pattern without
 * captures is the whole match. */
static void push_cap(pat_t *m, int i, const char *s, const char *e) {
  if (i >= m->ncap) {
    if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(m->L, s, (size_t)(e - s));
  } else if (m->cap[i].len == CAP_OPEN) {
    luaL_error(m->L, "unfinished capture");
  } else if (m->cap[i].len == CAP_POS) {
    lua_pushinteger(m->L, (lua_Integer)(m->cap[i].at - m->s0) + 1);
  } else {
    lua_pushlstring(m->L, m->cap[i].at, (size_t)m->cap[i].len);
  }
}

/* Pushes every capture (or, when s is not NULL and there are none, the
 * whole match); returns how many. */
static int push_caps(pat_t *m, const char *s, const char *e) {
  int n = m->ncap == 0 && s ? 1 : m->ncap;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; i++)
    push_cap(m, i, s, e);
  return n;
}

/* ---- find, match ----------------------------------------------------------
 */

/* A 1-based, possibly negative start position as a 1-based offset (0 and
 * positions before the start mean 1). */
static size_t start_pos(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos;
  if (pos == 0 || pos < -(lua_Integer)len) return 1;
  return len + (size_t)pos + 1;
}

/* Has p any character that makes it a pattern rather than plain text? */
static int has_magic(const char *p, size_t lp) {
  for (size_t i = 0; i < lp; i++)
    if (strchr("^$*+?.([%-", p[i]) && p[i]) return 1;
  return 0;
}

/* Plain search, in windows so that a huge subject still meets the
 * deadline (memmem is linear in each window). */
static const char *plain_find(lua_State *L, const char *fn, const char *h,
                              size_t lh, const char *n, size_t ln) {
  if (ln == 0) return h;
  if (ln > lh) return NULL;
  size_t win = (size_t)1 << 20;
  if (win < 4 * ln) win = 4 * ln;
  for (size_t off = 0; off + ln <= lh; off += win) {
    size_t span = lh - off < win + ln - 1 ? lh - off : win + ln - 1;
    const char *r = memmem(h + off, span, n, ln);
    if (r) return r;
    if (off + win + ln <= lh) kk__lua_charge(L, span / 64, fn); /* more */
  }
  return NULL;
}

static int find_match(lua_State *L, int find) {
  const char *fn = find ? "string.find" : "string.match";
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !has_magic(p, lp))) {
    const char *r = plain_find(L, fn, s + init, ls - init, p, lp);
    if (!r) {
      luaL_pushfail(L);
      return 1;
    }
    lua_pushinteger(L, (lua_Integer)(r - s) + 1);
    lua_pushinteger(L, (lua_Integer)(r - s + (ptrdiff_t)lp));
    return 2;
  }
  pat_t m;
  pat_init(&m, L, fn, s, ls, p, lp);
  int anchored = lp > 0 && *p == '^';
  if (anchored) p++;
  for (const char *at = s + init;; at++) {
    pat_reset(&m);
    const char *e = run(&m, at, p);
    if (e) {
      if (!find) return push_caps(&m, at, e);
      lua_pushinteger(L, (lua_Integer)(at - s) + 1);
      lua_pushinteger(L, (lua_Integer)(e - s));
      return push_caps(&m, NULL, NULL) + 2;
    }
    if (anchored || at >= m.se) break;
  }
  luaL_pushfail(L);
  return 1;
}

int kk__lua_str_find(lua_State *L) {
  return find_match(L, 1);
}

int kk__lua_str_match(lua_State *L) {
  return find_match(L, 0);
}

/* ---- gmatch ----------------------------------------------------------------
 */

typedef struct gm_state {
  const char *s, *p; /* anchored by the closure's upvalues 1 and 2 */
  size_t ls, lp;
  size_t pos;  /* where the next scan starts */
  size_t last; /* end of the last match, or SIZE_MAX */
} gm_state_t;

/* Upvalues: the subject, the pattern, the gm_state_t.  A '^' is an
 * ordinary character here (an anchor would stop the iteration). */
static int gmatch_next(lua_State *L) {
  gm_state_t *g = lua_touserdata(L, lua_upvalueindex(3));
  const char *s = g->s, *p = g->p;
  size_t ls = g->ls, lp = g->lp;
  pat_t m;
  pat_init(&m, L, "string.gmatch", s, ls, p, lp);
  for (size_t at = g->pos; at <= ls; at++) {
    pat_reset(&m);
    const char *e = run(&m, s + at, p);
    if (e && (size_t)(e - s) != g->last) {
      g->pos = g->last = (size_t)(e - s);
      return push_caps(&m, s + at, e);
    }
  }
  g->pos = ls + 1;
  return 0;
}

int kk__lua_str_gmatch(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) init = ls + 1;
  lua_settop(L, 2);
  gm_state_t *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->s = s;
  g->p = p;
  g->ls = ls;
  g->lp = lp;
  g->pos = init;
  g->last = (size_t)-1;
  lua_pushcclosure(L, gmatch_next, 3);
  return 1;
}

/* ---- gsub ------------------------------------------------------------------
 */

/* Appends the replacement string (argument 3) for the match [s, e):
 * %0-%9 are captures, %% is '%'. */
static void repl_string(pat_t *m, luaL_Buffer *b, const char *s,
                        const char *e) {
  lua_State *L = m->L;
  size_t lr;
  const char *r = lua_tolstring(L, 3, &lr), *re = r + lr;
  pat_charge(m, (unsigned)(lr / 64) + 1);
  while (r < re) {
    const char *pc = memchr(r, '%', (size_t)(re - r));
    if (!pc) {
      luaL_addlstring(b, r, (size_t)(re - r));
      return;
    }
    luaL_addlstring(b, r, (size_t)(pc - r));
    pc++;
    if (pc < re && *pc == '%') {
      luaL_addchar(b, '%');
    } else if (pc < re && isdigit(UC(*pc))) {
      if (*pc == '0') {
        luaL_addlstring(b, s, (size_t)(e - s));
      } else {
        push_cap(m, *pc - '1', s, e);
        luaL_tolstring(L, -1, NULL);
        lua_remove(L, -2);
        pat_charge(m, (unsigned)(lua_rawlen(L, -1) / 64));
        luaL_addvalue(b);
      }
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", '%');
    }
    r = pc + 1;
  }
}

/* Appends the replacement for [s, e); returns whether it changed the
 * text (a false or nil from a table or function keeps the match). */
static int repl_add(pat_t *m, luaL_Buffer *b, const char *s, const char *e,
                    int tr) {
  lua_State *L = m->L;
  if (tr == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    int n = push_caps(m, s, e);
    lua_call(L, n, 1);
  } else if (tr == LUA_TTABLE) {
    push_cap(m, 0, s, e);
    lua_gettable(L, 3);
  } else {
    repl_string(m, b, s, e);
    return 1;
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return 0;
  }
  if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)",
                      luaL_typename(L, -1));
  pat_charge(m, (unsigned)(lua_rawlen(L, -1) / 64));
  luaL_addvalue(b);
  return 1;
}

int kk__lua_str_gsub(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  int tr = lua_type(L, 3);
  lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  luaL_argexpected(L,
                   tr == LUA_TNUMBER || tr == LUA_TSTRING ||
                       tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                   3, "string/function/table");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  pat_t m;
  pat_init(&m, L, "string.gsub", s, ls, p, lp);
  int anchored = lp > 0 && *p == '^';
  if (anchored) p++;
  const char *at = s, *last = NULL;
  lua_Integer n = 0;
  int changed = 0;
  while (n < max) {
    pat_reset(&m);
    const char *e = run(&m, at, p);
    if (e && e != last) {
      n++;
      changed |= repl_add(&m, &b, at, e, tr);
      at = last = e;
    } else if (at < m.se) {
      luaL_addchar(&b, *at++);
    } else {
      break;
    }
    if (anchored) break;
  }
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, at, (size_t)(m.se - at));
    luaL_pushresult(&b);
    kk__lua_charge_result(L, m.fn);
  }
  lua_pushinteger(L, n);
  return 2;
}

void kk__lua_pattern_install(lua_State *L) {
  static const luaL_Reg fns[] = {{"find", kk__lua_str_find},
                                 {"match", kk__lua_str_match},
                                 {"gmatch", kk__lua_str_gmatch},
                                 {"gsub", kk__lua_str_gsub},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
