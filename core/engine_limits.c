/* core/engine_limits.c - bounds on what outside input may make the
 * process hold: new datastreams, and memory given back after a drain.
 *
 * Every new datastream costs memory for the life of the process in the
 * registry and in every sink that keeps per-datastream state (the
 * dashboard's latest values, a store's series cache), and anyone who can
 * send a message can invent names.  So the registry asks here before it
 * adds one (kk_datastream_id in core/batch.c): while a source's input is
 * decoded, that source may create at most KK__DS_PER_SOURCE datastreams,
 * and all sources together KK__DS_TOTAL (datastreams a store or an export
 * registers from what it holds do not count); kk.config's max_datastreams
 * and max_datastreams_per_source set the two (core/recipe_config.c).
 * A refused datastream makes its reading fail to decode (counted in
 * kk_datastreams_refused_total{stage}, the record goes to the dead
 * letters, so it can be requeued once the limit is raised), and the
 * first refusal of each source is logged with the limit it hit.  Loop
 * thread only. */
#include "engine_impl.h"

#include <malloc.h>
#include <stdio.h>
#include <sys/statvfs.h>

static uint32_t kk__ds_total_max = KK__DS_TOTAL,
                kk__ds_source_max = KK__DS_PER_SOURCE;
static kk_stage_t *kk__ds_source; /* the source whose input is decoded */
static uint32_t kk__ds_input;     /* datastreams input created, all sources */
static char kk__ds_refusal[200];  /* why the last admit refused */
static int kk__ds_refused;        /* the last admit refused */

const char *kk__datastream_refusal(void) {
  return kk__ds_refused ? kk__ds_refusal : NULL;
}

void kk__engine_datastream_limits(uint32_t total, uint32_t per_source) {
  kk__ds_total_max = total ? total : KK__DS_TOTAL;
  kk__ds_source_max = per_source ? per_source : KK__DS_PER_SOURCE;
}

kk_stage_t *kk__engine_datastream_source(kk_stage_t *src) {
  kk_stage_t *prev = kk__ds_source;
  kk__ds_source = src;
  return prev;
}

int kk__datastream_admit(uint32_t count) {
  kk_stage_t *src = kk__ds_source;
  const char *why = NULL;
  kk__ds_refused = 0;
  /* Only input is limited: a store or an export that registers the
   * datastreams it already holds is not. */
  if (!src) return 1;
  if (kk__ds_input >= kk__ds_total_max) {
    why = "input created the most datastreams allowed";
    snprintf(kk__ds_refusal, sizeof kk__ds_refusal,
             "more than %u new datastreams from all sources (kk.config "
             "max_datastreams)",
             kk__ds_total_max);
  } else if (src->ds_created >= kk__ds_source_max) {
    why = "this source created the most datastreams allowed";
    snprintf(kk__ds_refusal, sizeof kk__ds_refusal,
             "more than %u new datastreams from source '%s' (kk.config "
             "max_datastreams_per_source)",
             kk__ds_source_max, kk_stage_name(src));
  }
  if (!why) {
    src->ds_created++;
    kk__ds_input++;
    return 1;
  }
  kk__ds_refused = 1;
  kk_metric_add(kk_stage_counter(src, "kk_datastreams_refused_total", NULL,
                                 "New datastreams refused by the datastream "
                                 "limits"),
                1);
  if (!src->ds_refused_logged) {
    src->ds_refused_logged = 1;
    kk_stage_log(src, KK_LOG_WARN,
                 "new datastream refused: %s (%u from input, %u from this "
                 "source, %u registered; limits %u and %u per source); its "
                 "readings are rejected and go to the dead letters (counted "
                 "in kk_datastreams_refused_total)",
                 why, kk__ds_input, src->ds_created, count, kk__ds_total_max,
                 kk__ds_source_max);
  }
  return 0;
}

void kk__engine_trim_memory(void) {
  /* glibc keeps freed memory in its arenas; after a drain (a store's
   * queue emptied) give it back, so that RSS falls again. */
  malloc_trim(0);
}

/* ---- disk watermarks ---------------------------------------------------
 * The journal, the stores and the cursors usually share a disk.  When
 * free space falls below the high mark (max(KK__DISK_HIGH_MIN, 5 %)) the
 * engine takes no new input: sources are paused as under backpressure
 * (HTTP and CoAP answer 503 / 5.03, MQTT and TCP stop reading, so nothing
 * unjournaled is acknowledged and brokers hold their messages), and the
 * space left is the reserve that keeps cursor files and the stores'
 * catching up writable.  Input resumes once free space is above the low
 * mark (max(KK__DISK_LOW_MIN, 10 %)): the gap between the marks is what
 * lets a store drain its backlog before the journal fills the disk again.
 * Checked once a second from the engine's tick. */

void kk__engine_disk_check(kk__engine_t *e) {
  struct statvfs v;
  if (!e->cfg || statvfs(e->cfg->journal.dir, &v) != 0 || v.f_blocks == 0)
    return;
  uint64_t bs = v.f_frsize ? v.f_frsize : v.f_bsize;
  uint64_t total = (uint64_t)v.f_blocks * bs, avail = (uint64_t)v.f_bavail * bs;
  uint64_t high = total / 20, low = total / 10;
  if (high < KK__DISK_HIGH_MIN) high = KK__DISK_HIGH_MIN;
  if (low < KK__DISK_LOW_MIN) low = KK__DISK_LOW_MIN;
  if (low > total / 2) low = total / 2; /* tiny file systems */
  if (high > low / 2) high = low / 2;
  kk_metric_set(e->m_disk_free, (int64_t)avail);
  if (!e->disk_full && avail < high) {
    e->disk_full = 1;
    kk_metric_set(e->m_disk_full, 1);
    kk_log(KK_LOG_WARN, "core", "engine",
           "disk of %s nearly full: %llu MiB free, below the high mark of "
           "%llu MiB; taking no new input (sources paused) until %llu MiB "
           "are free",
           e->cfg->journal.dir, (unsigned long long)(avail >> 20),
           (unsigned long long)(high >> 20), (unsigned long long)(low >> 20));
    kk__engine_check_backpressure(e);
  } else if (e->disk_full && avail > low) {
    e->disk_full = 0;
    kk_metric_set(e->m_disk_full, 0);
    kk_log(KK_LOG_INFO, "core", "engine",
           "disk of %s has %llu MiB free again (above the low mark of %llu "
           "MiB): taking input again",
           e->cfg->journal.dir, (unsigned long long)(avail >> 20),
           (unsigned long long)(low >> 20));
    kk__engine_check_backpressure(e);
  }
}
