/*
 * tests/bench/mqtt_store_floor.c - the floor that stores, for the stock
 * broker benchmark (tests/bench/mqtt_stock.sh): the bare libraries doing
 * the pipeline's work in one thread, with nothing of klimakit.
 *
 *   kk-mqtt-store-floor PORT TOPIC QOS OUT DB
 *
 * A libmosquitto consumer (QoS 1: libmosquitto sends the PUBACKs, before
 * anything is stored) that for each message appends the payload and a
 * newline to OUT (stdio, flushed after each wake-up), parses it with
 * cJSON, derives co2e_g = kwh * 380 and flag = co2_ppm > 1000 and inserts
 * the six values into DB (SQLite, WAL, synchronous = NORMAL) with one
 * prepared INSERT OR IGNORE into the table klimakit's store.sqlite uses
 * (observations(ds, time, value), WITHOUT ROWID), 65 536 rows to a
 * transaction, in arrival order.  The datastream is the sensor's number
 * times six plus the quantity: no lookup by name.  No journal, no
 * rollups, no batches, no second thread.
 *
 * Prints "subscribed" once the broker acknowledged the subscription.
 * SIGTERM commits what is open and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cJSON.h>
#include <mosquitto.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXN_ROWS 65536

typedef struct sf {
  FILE *out;
  sqlite3 *db;
  sqlite3_stmt *ins;
  long rows; /* in the open transaction */
  long bad;
} sf_t;

static volatile sig_atomic_t stop;

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "kk-mqtt-store-floor: %s: %s\n", what, why);
  exit(1);
}

static void sf_exec(sf_t *f, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(f->db, sql, NULL, NULL, &err) != SQLITE_OK)
    die(sql, err ? err : "?");
}

static void sf_row(sf_t *f, long ds, long long time, double value) {
  sqlite3_bind_int64(f->ins, 1, ds);
  sqlite3_bind_int64(f->ins, 2, time);
  sqlite3_bind_double(f->ins, 3, value);
  if (sqlite3_step(f->ins) != SQLITE_DONE) die("insert", sqlite3_errmsg(f->db));
  sqlite3_reset(f->ins);
  if (++f->rows >= TXN_ROWS) {
    sf_exec(f, "COMMIT");
    sf_exec(f, "BEGIN");
    f->rows = 0;
  }
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void on_message(struct mosquitto *m, void *obj,
                       const struct mosquitto_message *msg) {
  (void)m;
  sf_t *f = obj;
  fwrite(msg->payload, 1, (size_t)msg->payloadlen, f->out);
  fputc('\n', f->out);
  cJSON *j = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "sensor");
  if (!cJSON_IsString(s) || s->valuestring[0] != 's') {
    f->bad++;
    cJSON_Delete(j);
    return;
  }
  long ds = strtol(s->valuestring + 1, NULL, 10) * 6;
  long long ts = (long long)num(j, "ts");
  double co2 = num(j, "co2_ppm"), kwh = num(j, "kwh");
  sf_row(f, ds, ts, co2);
  sf_row(f, ds + 1, ts, num(j, "temp_c"));
  sf_row(f, ds + 2, ts, num(j, "rh"));
  sf_row(f, ds + 3, ts, kwh);
  sf_row(f, ds + 4, ts, kwh * 380);
  sf_row(f, ds + 5, ts, co2 > 1000 ? 1 : 0);
  cJSON_Delete(j);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n,
                         const int *granted) {
  (void)m, (void)obj, (void)mid, (void)n, (void)granted;
  printf("subscribed\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: kk-mqtt-store-floor PORT TOPIC QOS OUT DB\n");
    return 2;
  }
  sf_t f = {0};
  if (!(f.out = fopen(argv[4], "w"))) die(argv[4], "cannot open");
  if (sqlite3_open(argv[5], &f.db) != SQLITE_OK) die(argv[5], "cannot open");
  sf_exec(&f, "PRAGMA journal_mode = WAL");
  sf_exec(&f, "PRAGMA synchronous = NORMAL");
  sf_exec(&f, "CREATE TABLE IF NOT EXISTS observations(ds INTEGER NOT NULL,"
              " time INTEGER NOT NULL, value REAL, PRIMARY KEY(ds, time))"
              " WITHOUT ROWID");
  if (sqlite3_prepare_v2(f.db,
                         "INSERT OR IGNORE INTO observations(ds, time, value)"
                         " VALUES(?1, ?2, ?3)",
                         -1, &f.ins, NULL) != SQLITE_OK)
    die("prepare", sqlite3_errmsg(f.db));
  sf_exec(&f, "BEGIN");
  signal(SIGTERM, on_term);
  mosquitto_lib_init();
  struct mosquitto *m = mosquitto_new(NULL, 1, &f);
  if (!m) die("mosquitto_new", "out of memory");
  mosquitto_message_callback_set(m, on_message);
  mosquitto_subscribe_callback_set(m, on_subscribe);
  if (mosquitto_connect(m, "127.0.0.1", atoi(argv[1]), 60) != MOSQ_ERR_SUCCESS)
    die("connect", argv[1]);
  if (mosquitto_subscribe(m, NULL, argv[2], atoi(argv[3])) != MOSQ_ERR_SUCCESS)
    die("subscribe", argv[2]);
  while (!stop) {
    int rc = mosquitto_loop(m, 100, 1);
    fflush(f.out);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_INVAL && !stop)
      die("loop", mosquitto_strerror(rc));
  }
  sf_exec(&f, "COMMIT");
  sqlite3_finalize(f.ins);
  sqlite3_close(f.db);
  fclose(f.out);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  if (f.bad) fprintf(stderr, "kk-mqtt-store-floor: %ld bad payloads\n", f.bad);
  return 0;
}
