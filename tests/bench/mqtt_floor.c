/*
 * tests/bench/mqtt_floor.c - the floor for the MQTT ingest benchmark: a
 * bare libmosquitto consumer that subscribes to the same topic as
 * klimakit would and only counts messages (QoS 1: libmosquitto sends the
 * PUBACKs).  No journal, no decoding, no batches.
 *
 *   kk-mqtt-floor PORT TOPIC QOS COUNT...
 *
 * Prints "subscribed" once the broker acknowledged the subscription, then
 * "reached N" (flushed) each time the number of messages received
 * reaches the next COUNT argument, and exits after the last one (or after
 * 300 s without reaching it: exit 1).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct floor_state {
  long received;
  long *targets;
  int ntargets, next;
  int subscribed;
} floor_state_t;

static void floor_on_connect(struct mosquitto *m, void *obj, int rc) {
  (void)obj;
  if (rc != 0) {
    fprintf(stderr, "kk-mqtt-floor: connect refused: %s\n",
            mosquitto_connack_string(rc));
    exit(1);
  }
  (void)m;
}

static void floor_on_subscribe(struct mosquitto *m, void *obj, int mid,
                               int qos_count, const int *granted) {
  (void)m, (void)mid, (void)qos_count, (void)granted;
  floor_state_t *s = obj;
  s->subscribed = 1;
  printf("subscribed\n");
  fflush(stdout);
}

static void floor_on_message(struct mosquitto *m, void *obj,
                             const struct mosquitto_message *msg) {
  (void)m, (void)msg;
  floor_state_t *s = obj;
  s->received++;
  while (s->next < s->ntargets && s->received >= s->targets[s->next]) {
    printf("reached %ld\n", s->targets[s->next]);
    fflush(stdout);
    s->next++;
  }
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: kk-mqtt-floor PORT TOPIC QOS COUNT...\n");
    return 2;
  }
  int port = atoi(argv[1]);
  const char *topic = argv[2];
  int qos = atoi(argv[3]);
  floor_state_t s = {0};
  s.ntargets = argc - 4;
  s.targets = calloc((size_t)s.ntargets, sizeof *s.targets);
  if (!s.targets) return 1;
  for (int i = 0; i < s.ntargets; i++)
    s.targets[i] = atol(argv[4 + i]);
  mosquitto_lib_init();
  char id[64];
  snprintf(id, sizeof id, "kk-floor-%d", (int)getpid());
  struct mosquitto *m = mosquitto_new(id, true, &s);
  if (!m) return 1;
  mosquitto_connect_callback_set(m, floor_on_connect);
  mosquitto_subscribe_callback_set(m, floor_on_subscribe);
  mosquitto_message_callback_set(m, floor_on_message);
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_max_inflight_messages_set(m, 1000);
  if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "kk-mqtt-floor: cannot connect to 127.0.0.1:%d\n", port);
    return 1;
  }
  if (mosquitto_subscribe(m, NULL, topic, qos) != MOSQ_ERR_SUCCESS) return 1;
  time_t t0 = time(NULL);
  while (s.next < s.ntargets) {
    int rc = mosquitto_loop(m, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      fprintf(stderr, "kk-mqtt-floor: %s\n", mosquitto_strerror(rc));
      return 1;
    }
    if (time(NULL) - t0 > 300) {
      fprintf(stderr, "kk-mqtt-floor: timeout after %ld messages\n",
              s.received);
      return 1;
    }
  }
  mosquitto_disconnect(m);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  free(s.targets);
  return 0;
}
