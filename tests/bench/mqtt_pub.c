/*
 * tests/bench/mqtt_pub.c - an MQTT publisher for the tests and benchmarks.
 *
 *   mqtt_pub PORT TOPIC COUNT QOS [PAYLOAD_BYTES | city]
 *
 * Publishes COUNT messages {"n":<i>,"v":<i>,"pad":"..."} to 127.0.0.1:PORT
 * and waits until every one is acknowledged (QoS 1) or written (QoS 0).
 * With "city" the messages are a town's sensor uplinks instead: 1 000
 * sensors round robin, TOPIC a format with one %s for the sensor id
 * ("city/sensors/%s/up"), payloads of about 120 bytes such as
 * {"sensor":"s0001","ts":1763700000000,"co2_ppm":1013,"temp_c":18.1,
 *  "rh":55.8,"kwh":0.764} (the values vary with the message number).
 * Survives broker restarts: a publish that fails is retried, and
 * libmosquitto resends unacknowledged QoS 1 messages after reconnecting.
 * Prints "published N in S s" on stdout; exit 1 on timeout (120 s).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <mosquitto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long acked;

static void on_publish(struct mosquitto *m, void *o, int mid) {
  (void)m, (void)o, (void)mid;
  atomic_fetch_add(&acked, 1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: mqtt_pub PORT TOPIC COUNT QOS [BYTES]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  const char *topic = argv[2];
  long count = atol(argv[3]);
  int qos = atoi(argv[4]);
  int city = argc > 5 && strcmp(argv[5], "city") == 0;
  int bytes = argc > 5 && !city ? atoi(argv[5]) : 0;
  char id[64];
  snprintf(id, sizeof id, "kk-pub-%d", (int)getpid());
  mosquitto_lib_init();
  struct mosquitto *m = mosquitto_new(id, false, NULL);
  mosquitto_publish_callback_set(m, on_publish);
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_max_inflight_messages_set(m, 1000);
  mosquitto_reconnect_delay_set(m, 1, 2, false);
  while (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS)
    usleep(50000);
  mosquitto_loop_start(m);
  char payload[4096];
  double t0 = now_s();
  char city_topic[256];
  for (long i = 0; i < count; i++) {
    const char *t = topic;
    int n;
    if (city) {
      char sensor[16];
      snprintf(sensor, sizeof sensor, "s%04ld", i % 1000 + 1);
      snprintf(city_topic, sizeof city_topic, topic, sensor);
      t = city_topic;
      /* Each sensor reports once a minute; the values wander a little. */
      n = snprintf(payload, sizeof payload,
                   "{\"sensor\":\"%s\",\"ts\":%lld,\"co2_ppm\":%ld,"
                   "\"temp_c\":%.1f,\"rh\":%.1f,\"kwh\":%.3f}",
                   sensor, 1763700000000LL + (long long)(i / 1000) * 60000,
                   600 + (i * 7919) % 900, 18.0 + (double)(i % 50) / 10,
                   40.0 + (double)(i % 300) / 10,
                   (double)((i * 104729) % 1500) / 1000);
    } else {
      n = snprintf(payload, sizeof payload, "{\"n\":%ld,\"v\":%ld%s", i, i,
                   bytes ? ",\"pad\":\"" : "}");
    }
    if (bytes) {
      while (n < bytes - 2 && n < (int)sizeof payload - 3)
        payload[n++] = 'x';
      payload[n++] = '"';
      payload[n++] = '}';
      payload[n] = '\0';
    }
    for (;;) {
      /* Bound what is queued so that QoS 0 does not run away. */
      while (i - atomic_load(&acked) > 5000)
        usleep(100);
      int rc = mosquitto_publish(m, NULL, t, n, payload, qos, false);
      if (rc == MOSQ_ERR_SUCCESS) break;
      if (now_s() - t0 > 120) goto timeout;
      usleep(20000);
    }
  }
  while (atomic_load(&acked) < count) {
    if (now_s() - t0 > 120) goto timeout;
    usleep(1000);
  }
  double dt = now_s() - t0;
  printf("published %ld in %.3f s\n", count, dt);
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  return 0;
timeout:
  fprintf(stderr, "mqtt_pub: timeout, %ld of %ld acknowledged\n",
          (long)atomic_load(&acked), count);
  return 1;
}
