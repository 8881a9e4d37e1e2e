/*
 * modules/net/net_curl.c - libcurl multi-socket transfers on libuv.
 *
 * The pattern of curl's docs/examples/multi-uv.c: CURLMOPT_SOCKETFUNCTION
 * starts, changes and stops a uv_poll per socket (the wrapper is stored
 * with curl_multi_assign), CURLMOPT_TIMERFUNCTION arms one uv_timer, and
 * both call curl_multi_socket_action() and then collect finished
 * transfers.  Poll handles are closed asynchronously; the loop object
 * counts its open handles and is freed only when the last one closed.
 */
#include "net/net_curl.h"

#include <klimakit.h>
#include <stdlib.h>

typedef struct curl_job {
  CURL *easy;
  net_curl_done_cb cb;
  void *arg;
  struct curl_job *next;
} curl_job_t;

typedef struct curl_sock {
  uv_poll_t poll; /* poll.data = this */
  net_curl_t *cl;
  curl_socket_t fd;
} curl_sock_t;

struct net_curl {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer; /* timer.data = this */
  curl_job_t *jobs; /* running transfers */
  size_t open_handles;
  int closing;
  void (*closed)(void *);
  void *closed_arg;
};

static int curl_loop_users; /* loops alive: curl_global_* once */

static void curl_loop_handle_closed(uv_handle_t *h);

static void curl_loop_finish(net_curl_t *cl) {
  CURLMsg *msg;
  int left;
  while (!cl->closing && (msg = curl_multi_info_read(cl->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode res = msg->data.result;
    curl_multi_remove_handle(cl->multi, easy);
    curl_job_t **pp = &cl->jobs;
    while (*pp && (*pp)->easy != easy)
      pp = &(*pp)->next;
    curl_job_t *job = *pp;
    if (!job) continue;
    *pp = job->next;
    job->cb(easy, res, job->arg);
    free(job);
  }
}

static void curl_loop_poll_cb(uv_poll_t *p, int status, int events) {
  curl_sock_t *cs = p->data;
  net_curl_t *cl = cs->cl;
  int flags = 0, running;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(cl->multi, cs->fd, flags, &running);
  curl_loop_finish(cl);
}

static void curl_loop_timer_cb(uv_timer_t *t) {
  net_curl_t *cl = t->data;
  int running;
  curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  curl_loop_finish(cl);
}

static int curl_loop_timer_fn(CURLM *multi, long timeout_ms, void *userp) {
  net_curl_t *cl = userp;
  (void)multi;
  if (cl->closing) return 0;
  if (timeout_ms < 0)
    uv_timer_stop(&cl->timer);
  else
    uv_timer_start(&cl->timer, curl_loop_timer_cb, (uint64_t)timeout_ms, 0);
  return 0;
}

static int curl_loop_socket_fn(CURL *easy, curl_socket_t fd, int what,
                               void *userp, void *socketp) {
  net_curl_t *cl = userp;
  curl_sock_t *cs = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (cs) {
      curl_multi_assign(cl->multi, fd, NULL);
      uv_poll_stop(&cs->poll);
      uv_close((uv_handle_t *)&cs->poll, curl_loop_handle_closed);
    }
    return 0;
  }
  if (!cs) {
    cs = calloc(1, sizeof *cs);
    if (!cs) return -1;
    cs->cl = cl;
    cs->fd = fd;
    if (uv_poll_init_socket(cl->loop, &cs->poll, fd) != 0) {
      free(cs);
      return -1;
    }
    cs->poll.data = cs;
    cl->open_handles++;
    curl_multi_assign(cl->multi, fd, cs);
  }
  int ev = 0;
  if (what & CURL_POLL_IN) ev |= UV_READABLE;
  if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
  uv_poll_start(&cs->poll, ev, curl_loop_poll_cb);
  return 0;
}

static void curl_loop_free(net_curl_t *cl) {
  void (*closed)(void *) = cl->closed;
  void *arg = cl->closed_arg;
  free(cl);
  if (--curl_loop_users == 0) curl_global_cleanup();
  if (closed) closed(arg);
}

static void curl_loop_handle_closed(uv_handle_t *h) {
  net_curl_t *cl;
  if (h->type == UV_TIMER) {
    cl = h->data;
  } else {
    curl_sock_t *cs = h->data;
    cl = cs->cl;
    free(cs);
  }
  if (--cl->open_handles == 0 && cl->closing) curl_loop_free(cl);
}

int net_curl_new(uv_loop_t *loop, net_curl_t **out) {
  if (curl_loop_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
    return KK_EIO;
  curl_loop_users++;
  net_curl_t *cl = calloc(1, sizeof *cl);
  if (!cl || !(cl->multi = curl_multi_init())) {
    free(cl);
    if (--curl_loop_users == 0) curl_global_cleanup();
    return KK_ENOMEM;
  }
  cl->loop = loop;
  uv_timer_init(loop, &cl->timer);
  cl->timer.data = cl;
  cl->open_handles = 1;
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, curl_loop_socket_fn);
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, curl_loop_timer_fn);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
  *out = cl;
  return 0;
}

int net_curl_add(net_curl_t *cl, CURL *easy, net_curl_done_cb cb, void *arg) {
  if (cl->closing) return KK_ECLOSED;
  curl_job_t *job = calloc(1, sizeof *job);
  if (!job) return KK_ENOMEM;
  job->easy = easy;
  job->cb = cb;
  job->arg = arg;
  if (curl_multi_add_handle(cl->multi, easy) != CURLM_OK) {
    free(job);
    return KK_EIO;
  }
  job->next = cl->jobs;
  cl->jobs = job;
  return 0;
}

void net_curl_close(net_curl_t *cl, void (*closed)(void *arg), void *arg) {
  if (!cl) return;
  while (cl->jobs) {
    curl_job_t *job = cl->jobs;
    cl->jobs = job->next;
    curl_multi_remove_handle(cl->multi, job->easy);
    job->cb(job->easy, CURLE_ABORTED_BY_CALLBACK, job->arg);
    free(job);
  }
  /* Cleanup may still report sockets as removed: that closes their polls
   * (closing is not set yet, so nothing is freed under our feet). */
  curl_multi_cleanup(cl->multi);
  cl->multi = NULL;
  cl->closing = 1;
  cl->closed = closed;
  cl->closed_arg = arg;
  uv_timer_stop(&cl->timer);
  uv_close((uv_handle_t *)&cl->timer, curl_loop_handle_closed);
}
