/*
 * modules/net/net_mqtt.h - what the MQTT source and the MQTT
 * forwarder share: broker URLs and reconnect backoff.
 */
#ifndef KK_MODULES_COMMON_MQTT_COMMON_H
#define KK_MODULES_COMMON_MQTT_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Parses mqtt://host[:port] (port 1883) or mqtts://host[:port] (TLS, port
 * 8883); "[v6]" hosts allowed, a path is ignored.  host gets `hostlen`
 * bytes at most.  Returns 0 or KK_EPARSE. */
int net_mqtt_parse_url(const char *url, char *host, size_t hostlen, int *port,
                       int *tls);

/* Reconnect delay with jitter: a random value in [d/2, d], where d doubles
 * per failed attempt from min_ms up to max_ms. */
uint64_t net_mqtt_backoff_ms(uint64_t min_ms, uint64_t max_ms,
                             unsigned attempts);

#endif
