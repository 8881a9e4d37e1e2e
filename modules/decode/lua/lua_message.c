/*
 * modules/decode/lua/lua_message.c - one message through a Lua decoder.
 *
 * Reads the envelope, pushes the payload, the port and ctx, calls the
 * decoder under the stage's budget and copies its result out, checking
 * its shape, all inside one protected call: a message yields all its
 * readings or none.  Runs on the loop thread.
 */
#include "decode/lua/lua_decoder.h"

#include <cJSON.h>
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode_uplink.h"

/* What the protected call needs for one message. */
typedef struct ld_call {
  ld_stage_t *s;
  const uplink_t *u;
  const kk_raw_t *raw;
  const uint8_t *payload;
  size_t len;
  int port;
  int shape; /* set before raising a shape error */
  int soft;  /* the decoder returned nil, "message" [, reason] */
  const char *softreason;
  char softmsg[160];
} ld_call_t;

/* The reasons a decoder may give as the third value of nil, message,
 * reason; anything else is counted as "decoder" (the label set of
 * kk_rejected_total stays bounded). */
static const char *const ld_decoder_reasons[] = {"truncated", "unknown_record",
                                                 "invalid", NULL};

static int ld_shape(lua_State *L, ld_call_t *c, const char *fmt, ...)
    KK_PRINTF(3, 4);
static int ld_shape(lua_State *L, ld_call_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  c->shape = 1;
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return lua_error(L);
}

static void ld_set_str(lua_State *L, const char *k, const char *v) {
  if (!v || !*v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void ld_set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* Pushes the ctx table of a message. */
static void ld_push_ctx(lua_State *L, ld_call_t *c) {
  const uplink_t *u = c->u;
  lua_createtable(L, 0, 12);
  if (u) {
    ld_set_str(L, "device_id", u->device_id);
    ld_set_str(L, "device_name", u->device_name);
    ld_set_str(L, "application_id", u->application_id);
    ld_set_str(L, "dev_eui", u->dev_eui);
    if (u->time_ms) ld_set_int(L, "time", u->time_ms);
    if (u->fcnt >= 0) ld_set_int(L, "fcnt", u->fcnt);
    if (u->has_rssi) {
      lua_pushnumber(L, u->rssi);
      lua_setfield(L, -2, "rssi");
    }
    if (u->has_snr) {
      lua_pushnumber(L, u->snr);
      lua_setfield(L, -2, "snr");
    }
  }
  ld_set_int(L, "received", c->raw->time_ms);
  ld_set_int(L, "seq", (lua_Integer)c->raw->seq);
  if (c->port >= 0) ld_set_int(L, "port", c->port);
  /* The source's metadata: the topic and its named parts. */
  lua_newtable(L);
  const char *meta = c->raw->meta;
  cJSON *m = meta && meta[0] == '{' ? cJSON_Parse(meta) : NULL;
  if (m) {
    for (const cJSON *e = m->child; e; e = e->next)
      if (cJSON_IsString(e) && e->string)
        ld_set_str(L, e->string, e->valuestring);
    cJSON_Delete(m);
  }
  lua_setfield(L, -2, "topic_parts");
  char topic[512];
  if (kk_raw_meta_get(meta, "topic", topic, sizeof topic) == 0)
    ld_set_str(L, "topic", topic);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->s->config_ref);
  lua_setfield(L, -2, "config");
}

static int ld_getstr(lua_State *L, int t, const char *k, char *out, size_t len,
                     ld_call_t *c, lua_Integer i, int required) {
  lua_pushstring(L, k);
  int ty = lua_rawget(L, t);
  out[0] = '\0';
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    if (required) ld_shape(L, c, "reading %d has no %s", (int)i, k);
    return 0;
  }
  size_t n = 0;
  const char *v = ty == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
  if (!v)
    ld_shape(L, c, "reading %d: %s must be a string, got %s", (int)i, k,
             lua_typename(L, ty));
  if (n == 0 && required) ld_shape(L, c, "reading %d: %s is empty", (int)i, k);
  if (n >= len || strlen(v) != n)
    ld_shape(L, c, "reading %d: %s is longer than %d bytes or holds NUL",
             (int)i, k, (int)len - 1);
  memcpy(out, v, n + 1);
  lua_pop(L, 1);
  return 1;
}

/* Validates the list at index t and copies it into s->res. */
static void ld_collect(lua_State *L, ld_call_t *c, int t) {
  ld_stage_t *s = c->s;
  lua_Unsigned n = lua_rawlen(L, t);
  if (n > LD_MAX_READINGS)
    ld_shape(L, c, "%d readings in one message (at most %d)", (int)n,
             LD_MAX_READINGS);
  if (n > s->capres) {
    ld_result_t *nr = realloc(s->res, n * sizeof *nr);
    if (!nr) luaL_error(L, "not enough memory");
    s->res = nr;
    s->capres = n;
  }
  for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
    ld_result_t *r = &s->res[i - 1];
    memset(r, 0, sizeof *r);
    if (lua_rawgeti(L, t, i) != LUA_TTABLE)
      ld_shape(L, c, "reading %d is a %s, not a table", (int)i,
               luaL_typename(L, -1));
    int rt = lua_gettop(L);
    ld_getstr(L, rt, "property", r->property, sizeof r->property, c, i, 1);
    ld_getstr(L, rt, "unit", r->unit, sizeof r->unit, c, i, 0);
    ld_getstr(L, rt, "thing", r->thing, sizeof r->thing, c, i, 0);
    lua_pushliteral(L, "value");
    int ty = lua_rawget(L, rt);
    if (ty == LUA_TNUMBER)
      r->value = lua_tonumber(L, -1);
    else if (ty == LUA_TBOOLEAN)
      r->value = lua_toboolean(L, -1);
    else
      ld_shape(L, c, "reading %d (%s): value must be a number, got %s", (int)i,
               r->property, lua_typename(L, ty));
    if (!isfinite(r->value))
      ld_shape(L, c, "reading %d (%s): value is not finite", (int)i,
               r->property);
    lua_pop(L, 1);
    lua_pushliteral(L, "time");
    ty = lua_rawget(L, rt);
    if (ty == LUA_TNUMBER) {
      double tm = lua_tonumber(L, -1);
      if (!(tm > -9e15 && tm < 9e15))
        ld_shape(L, c, "reading %d (%s): time out of range", (int)i,
                 r->property);
      r->has_time = 1;
      r->time_ms = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1)
                                        : (int64_t)llround(tm);
    } else if (ty != LUA_TNIL) {
      ld_shape(L, c, "reading %d (%s): time must be a number (UTC ms)", (int)i,
               r->property);
    }
    lua_settop(L, rt - 1);
  }
  s->nres = (size_t)n;
}

/* Runs under kk_lua_pcall: calls decode(payload, port, ctx) and collects
 * its result. */
static int ld_run(lua_State *L) {
  ld_call_t *c = lua_touserdata(L, 1);
  ld_stage_t *s = c->s;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->decode_ref);
  lua_pushlstring(L, (const char *)c->payload, c->len);
  if (c->port >= 0)
    lua_pushinteger(L, c->port);
  else
    lua_pushnil(L);
  ld_push_ctx(L, c);
  lua_pushvalue(L, -1);
  lua_insert(L, 1); /* ctx at 1, kept for ctx.thing */
  lua_call(L, 3, 3);
  /* stack: ctx, result, message, reason */
  if (lua_isnil(L, 2)) {
    c->soft = 1;
    const char *m = lua_tostring(L, 3);
    snprintf(c->softmsg, sizeof c->softmsg, "%s", m ? m : "");
    const char *r = lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : NULL;
    c->softreason = "decoder";
    for (size_t i = 0; r && ld_decoder_reasons[i]; i++)
      if (!strcmp(r, ld_decoder_reasons[i]))
        c->softreason = ld_decoder_reasons[i];
    return 0;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->none_ref);
  int none = lua_rawequal(L, 2, -1);
  lua_pop(L, 1);
  if (none) {
    s->none = 1;
    const char *m = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : NULL;
    snprintf(s->note, sizeof s->note, "%s", m ? m : "");
    lua_settop(L, 0);
    return 0;
  }
  if (!lua_istable(L, 2))
    ld_shape(L, c, "decode returned a %s, not a list of readings",
             luaL_typename(L, 2));
  ld_collect(L, c, 2);
  s->thing[0] = '\0';
  lua_pushliteral(L, "thing");
  if (lua_rawget(L, 1) == LUA_TSTRING) {
    size_t n;
    const char *t = lua_tolstring(L, -1, &n);
    if (n >= sizeof s->thing || strlen(t) != n)
      ld_shape(L, c, "ctx.thing is longer than %d bytes or holds NUL",
               (int)sizeof s->thing - 1);
    memcpy(s->thing, t, n + 1);
  }
  lua_settop(L, 0);
  return 0;
}

static const char *ld_reason(int rc, const ld_call_t *c, lua_State *L) {
  if (rc == KK_EBUDGET) return "budget";
  if (rc == KK_EMEMCAP) return "memcap";
  if (c->shape) return "shape";
  int trunc = lua_getfield(L, LUA_REGISTRYINDEX, LD_TRUNCATED_KEY) != LUA_TNIL;
  lua_pop(L, 1);
  return trunc ? "truncated" : "decoder";
}

/* The declared fPorts: 0 when `port` is one of them (or none are
 * declared), else -1 with the reason in why. */
static int ld_check_port(const ld_stage_t *s, int port, char *why,
                         size_t whylen) {
  if (!s->has_ports) return 0;
  if (port >= 0 && port <= 255 && (s->ports[port / 8] >> (port % 8) & 1))
    return 0;
  if (port < 0)
    snprintf(why, whylen, "no fPort given; the decoder takes fPort %s",
             s->ports_text);
  else
    snprintf(why, whylen, "fPort %d is not one the decoder takes (%s)", port,
             s->ports_text);
  return -1;
}

char *ld_first_line(char *msg) {
  char *nl = strchr(msg, '\n');
  if (nl) *nl = '\0';
  return msg;
}

/* Decodes one raw message into s->res (s->nres entries).  Returns 0 with
 * the default time and thing of the message in *t0 / thing, or a negative
 * code with `why` and *reason set. */
int ld_message(ld_stage_t *s, const kk_raw_t *raw, int64_t *t0, char *thing,
               size_t thinglen, char *why, size_t whylen, const char **reason) {
  uplink_t u;
  int have_u = 0, rc = 0;
  ld_call_t c;
  memset(&c, 0, sizeof c);
  c.s = s;
  c.raw = raw;
  s->nres = 0;
  s->none = 0;
  s->note[0] = '\0';
  thing[0] = '\0';
  *t0 = raw->time_ms;
  if (s->envelope == LD_RAW) {
    c.payload = raw->data;
    c.len = raw->len;
    c.port = s->port;
    char pp[16];
    if (kk_raw_meta_get(raw->meta, "port", pp, sizeof pp) == 0) {
      char *end;
      long v = strtol(pp, &end, 10);
      if (*end == '\0' && v >= 0 && v <= 255) c.port = (int)v;
    }
  } else {
    rc = s->envelope == LD_CHIRPSTACK_V4
             ? uplink_parse_chirpstack_v4(raw->data, raw->len, &u, why, whylen)
             : uplink_parse_ttn_v3(raw->data, raw->len, &u, why, whylen);
    if (rc) {
      *reason = rc == KK_EMISSING ? "format" : "parse";
      return rc;
    }
    have_u = 1;
    if (!u.has_payload || u.payload_len == 0) {
      *reason = "no_payload";
      snprintf(why, whylen, "uplink has no %s",
               s->envelope == LD_CHIRPSTACK_V4 ? "data" : "frm_payload");
      uplink_free(&u);
      return KK_EMISSING;
    }
    c.u = &u;
    c.payload = u.payload;
    c.len = u.payload_len;
    c.port = u.fport;
    if (u.time_ms) *t0 = u.time_ms;
    snprintf(thing, thinglen, "%s", u.device_id);
  }
  if (ld_check_port(s, c.port, why, whylen) != 0) {
    *reason = "port";
    if (have_u) uplink_free(&u);
    return KK_ERANGE;
  }
  char e[512];
  lua_State *L = s->L;
  int top = lua_gettop(L);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, LD_TRUNCATED_KEY);
  lua_pushcfunction(L, ld_run);
  lua_pushlightuserdata(L, &c);
  rc = kk_lua_pcall(L, 1, 0, e, sizeof e);
  if (rc) {
    *reason = ld_reason(rc, &c, L);
    snprintf(why, whylen, "%s", ld_first_line(e));
    s->nres = 0;
    s->none = 0;
  }
  lua_settop(L, top);
  if (rc) {
    /* counted above */
  } else if (s->none) {
    /* nothing to store: a decoded message without readings */
  } else if (c.soft) {
    *reason = c.softreason;
    snprintf(why, whylen, "%s",
             c.softmsg[0] ? c.softmsg : "decode returned nil");
    rc = KK_EPARSE;
  } else if (s->nres == 0) {
    *reason = "no_values";
    snprintf(why, whylen, "decode returned no readings");
    rc = KK_EMISSING;
  } else if (s->thing[0]) {
    snprintf(thing, thinglen, "%s", s->thing);
  }
  if (have_u) uplink_free(&u);
  return rc;
}
