/* core/notify.c - sd_notify for klimakit.service (Type=notify).
 *
 * READY=1 is sent once the sinks and transforms have started and the
 * journal replay has begun, so `systemctl start` returns when the
 * pipeline takes data; STOPPING=1 when the drain begins (SIGTERM,
 * every source done).  With WatchdogSec= in the unit the engine's
 * 100 ms tick sends WATCHDOG=1 at half the interval: it runs on the
 * loop thread, so a loop that blocks stops the pings and systemd
 * restarts the service.  Outside systemd ($NOTIFY_SOCKET unset) every
 * call returns at once. */
#include "notify.h"

#include <klimakit/log.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

static uint64_t watchdog_ms, last_ping_ms;
static int ready;

void kk__notify_ready(size_t nstages, uint64_t journal_last) {
  if (!getenv("NOTIFY_SOCKET")) return;
  char msg[160];
  snprintf(msg, sizeof msg,
           "READY=1\nSTATUS=running %zu stages; journal at record %" PRIu64,
           nstages, journal_last);
  int rc = sd_notify(0, msg);
  if (rc < 0)
    kk_log(KK_LOG_WARN, "core", "notify", "sd_notify: %s", strerror(-rc));
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
    watchdog_ms = usec / 1000;
    kk_log(KK_LOG_INFO, "core", "notify", "watchdog every %" PRIu64 " ms",
           watchdog_ms / 2);
  }
  ready = 1;
}

void kk__notify_stopping(void) {
  if (ready) sd_notify(0, "STOPPING=1\nSTATUS=draining the pipeline");
}

void kk__notify_tick(uint64_t now_ms) {
  if (!watchdog_ms || now_ms - last_ping_ms < watchdog_ms / 2) return;
  last_ping_ms = now_ms;
  sd_notify(0, "WATCHDOG=1");
}
