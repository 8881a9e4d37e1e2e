/* core/notify.c - sd_notify for klimakit.service (Type=notify).
 *
 * READY=1 is sent once the sinks and transforms have started and the
 * journal replay has begun, so `systemctl start` returns when the
 * pipeline takes data; STOPPING=1 when the drain begins (SIGTERM,
 * every source done).  With WatchdogSec= in the unit the engine's
 * 100 ms tick sends WATCHDOG=1 at half the interval: it runs on the
 * loop thread, so a loop that blocks stops the pings and systemd
 * restarts the service.  Outside systemd ($NOTIFY_SOCKET unset) every
 * call returns at once.
 *
 * The protocol is written here rather than taken from libsystemd: it is
 * one datagram of "KEY=value" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET ("@" for the abstract namespace), as sd_notify(3)
 * describes it, and the kernel attaches the sender's credentials for
 * the manager (which sets SO_PASSCRED).  Linked, libsystemd and the six
 * libraries it brings (libgcrypt, libgpg-error, liblzma, libzstd,
 * liblz4, libcap) were 0.8 MB of every klimakit process's resident set
 * for these three messages (docs/dev/design.md). */
#include "notify.h"

#include <klimakit/log.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static uint64_t watchdog_ms, last_ping_ms;
static int ready;

/* Sends `msg` to $NOTIFY_SOCKET: 1 sent, 0 no socket named, -errno. */
static int notify_send(const char *msg) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return 0;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof sa.sun_path)
    return -EAFNOSUPPORT; /* (systemd 254's vsock: addresses are not) */
  memcpy(sa.sun_path, path, len);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  ssize_t n =
      sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
  int rc = n < 0 ? -errno : 1;
  close(fd);
  return rc;
}

/* The watchdog interval the manager asks for, in ms; 0 for none.  As
 * sd_watchdog_enabled(3): $WATCHDOG_USEC, for this process when
 * $WATCHDOG_PID is set. */
static uint64_t notify_watchdog_ms(void) {
  const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
  char *end;
  if (!us) return 0;
  errno = 0;
  unsigned long long v = strtoull(us, &end, 10);
  if (errno || end == us || *end || v == 0) return 0;
  if (pid) {
    unsigned long long p = strtoull(pid, &end, 10);
    if (end == pid || *end || p != (unsigned long long)getpid()) return 0;
  }
  return v / 1000;
}

void kk__notify_ready(size_t nstages, uint64_t journal_last) {
  if (!getenv("NOTIFY_SOCKET")) return;
  char msg[160];
  snprintf(msg, sizeof msg,
           "READY=1\nSTATUS=running %zu stages; journal at record %" PRIu64,
           nstages, journal_last);
  int rc = notify_send(msg);
  if (rc < 0)
    kk_log(KK_LOG_WARN, "core", "notify", "sd_notify to %s: %s",
           getenv("NOTIFY_SOCKET"), strerror(-rc));
  uint64_t ms = notify_watchdog_ms();
  if (ms >= 2) {
    watchdog_ms = ms;
    kk_log(KK_LOG_INFO, "core", "notify", "watchdog every %" PRIu64 " ms",
           watchdog_ms / 2);
  }
  ready = 1;
}

void kk__notify_stopping(void) {
  if (ready) notify_send("STOPPING=1\nSTATUS=draining the pipeline");
}

void kk__notify_tick(uint64_t now_ms) {
  if (!watchdog_ms || now_ms - last_ping_ms < watchdog_ms / 2) return;
  last_ping_ms = now_ms;
  notify_send("WATCHDOG=1");
}
