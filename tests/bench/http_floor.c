/* tests/bench/http_floor.c - the floor for the HTTP benchmarks: a bare
 * h2o server on libuv answering every request with a fixed body of the
 * size given on the command line.  No klimakit code: what serving the
 * bytes costs by itself.
 *
 *   kk-http-floor PORT BODY_BYTES */
#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static char *body;
static size_t body_len;

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
  (void)self;
  req->res.status = 200;
  req->res.reason = "OK";
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                 H2O_STRLIT("application/json"));
  h2o_send_inline(req, body, body_len);
  return 0;
}

static void on_accept(uv_stream_t *l, int status) {
  if (status) return;
  uv_tcp_t *c = malloc(sizeof *c);
  uv_tcp_init(l->loop, c);
  if (uv_accept(l, (uv_stream_t *)c)) {
    uv_close((uv_handle_t *)c, (uv_close_cb)free);
    return;
  }
  h2o_accept(&accept_ctx,
             h2o_uv_socket_create((uv_stream_t *)c, (uv_close_cb)free));
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: kk-http-floor PORT BODY_BYTES\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  body_len = strtoul(argv[2], NULL, 10);
  body = malloc(body_len + 1);
  memset(body, 'x', body_len);
  uv_loop_t *loop = uv_default_loop();
  h2o_config_init(&config);
  h2o_hostconf_t *h = h2o_config_register_host(
      &config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *p = h2o_config_register_path(h, "/", 0);
  h2o_handler_t *hd = h2o_create_handler(p, sizeof *hd);
  hd->on_req = on_req;
  h2o_context_init(&ctx, loop, &config);
  accept_ctx.ctx = &ctx;
  accept_ctx.hosts = config.hosts;
  static uv_tcp_t listener;
  struct sockaddr_in a;
  uv_tcp_init(loop, &listener);
  uv_ip4_addr("127.0.0.1", atoi(argv[1]), &a);
  if (uv_tcp_bind(&listener, (struct sockaddr *)&a, 0) ||
      uv_listen((uv_stream_t *)&listener, 128, on_accept)) {
    fprintf(stderr, "kk-http-floor: cannot listen\n");
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
