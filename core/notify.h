/* core/notify.h - telling a service manager how the process is doing
 * (systemd's sd_notify protocol; no-ops without $NOTIFY_SOCKET). */
#ifndef KK_CORE_NOTIFY_H
#define KK_CORE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* The pipeline runs: READY=1 with a STATUS line; also reads the watchdog
 * interval ($WATCHDOG_USEC) the manager asks for. */
void kk__notify_ready(size_t nstages, uint64_t journal_last);
/* The drain began: STOPPING=1. */
void kk__notify_stopping(void);
/* Called from the engine's tick: WATCHDOG=1 every half interval, so a
 * loop that hangs is restarted by the manager (WatchdogSec=). */
void kk__notify_tick(uint64_t now_ms);

#endif
