#!/usr/bin/env bash
# calc.alert end to end: a classroom's CO2 through source.tcp (journaled),
# calc.alert, forward.webhook (tests/e2e/data/forward/receiver.py) and
# forward.email (tests/e2e/smtp_sink.py), with a SIGKILL in the middle of
# an episode.  Readings are from Monday 2026-03-02 (Europe/Berlin), lessons
# Mo-Fr 08:00-13:30.
set -u
. "$(dirname "$0")/lib.sh" alerts
kk_tmpdir

SECRET=alerts-test-secret
smtp_port=$(free_port)
hook_port=$(free_port)
tcp_port=$(free_port)
pids=()
kk_on_exit() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }

python3 tests/e2e/smtp_sink.py "$smtp_port" "$d/mail" 1 >/dev/null 2>"$d/smtp.err" &
pids+=($!)
python3 tests/e2e/data/forward/receiver.py "$hook_port" "$d/hook.log" "$SECRET" 0 \
  >/dev/null 2>"$d/hook.err" &
pids+=($!)
wait_port "$smtp_port" 10 && wait_port "$hook_port" 10 ||
  { no servers "the SMTP sink or the webhook receiver did not start"; exit 1; }

cat >"$d/recipe.lua" <<EOF
local kk = require "klimakit"
local alerts = kk.calc.alert {
  rules = {
    co2_high = { property = "co2", above = 1000, clear = 900, duration = "10m",
                 schedule = "Mo-Fr 08:00-13:30", label = "CO₂" },
    no_data  = { thing = "sensor-*", stale = "3s" },
  },
}
kk.pipe(kk.source.tcp { listen = "127.0.0.1:$tcp_port" }, alerts,
  { kk.forward.webhook { url = "http://127.0.0.1:$hook_port/hook", retry_min = "200ms" },
    kk.forward.email { url = "smtp://127.0.0.1:$smtp_port", starttls = "off",
                       from = "klimaalarm@stadt.example", to = { "hausmeister@schule.example" },
                       user = "alarm", retry_min = "200ms" },
    kk.sink.jsonl { path = "$d/events.jsonl" } })
EOF
export KLIMAKIT_WEBHOOK_SECRET=$SECRET KLIMAKIT_SMTP_PASSWORD=smtp-test-password

start() {
  kk_start "$d/kk.log" "$d/recipe.lua" --data-dir "$d/data" --log-format text
  wait_port "$tcp_port" 10 || { no start "klimakit did not listen: $(tail -3 "$d/kk.log")"; exit 1; }
}

# send THING FROM_LOCAL_HH:MM MINUTES VALUE [DAY_OFFSET]: one reading a
# minute on Monday 2026-03-02 (+DAY_OFFSET days), local time (UTC+1);
# "now" as FROM sends one reading at the current time.
send() {
  python3 - "$tcp_port" "$@" <<'PY'
import json, socket, sys, time
port, thing, frm, n, v = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
day = int(sys.argv[6]) if len(sys.argv) > 6 else 0
if frm == "now":
    t0 = int(time.time() * 1000)
else:
    h, m = map(int, frm.split(":"))
    t0 = 1772406000000 + day * 86400000 + (h * 60 + m) * 60000  # 2026-03-02T00:00+01:00
lines = [json.dumps({"thing": thing, "property": "co2", "unit": "ppm",
                     "time": t0 + i * 60000, "value": v}) + "\n" for i in range(n)]
s = socket.create_connection(("127.0.0.1", port), 5)
s.sendall("".join(lines).encode())
buf = b""
while buf.count(b"\n") < n:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
s.close()
oks = sum(1 for l in buf.decode().splitlines() if l.startswith("ok "))
sys.exit(0 if oks == n else 1)
PY
}

# events RULE THING KIND: how many events of that kind the webhook got.
events() {
  python3 - "$d/hook.log" "$@" <<'PY'
import json, os, sys
log, rule, thing, kind = sys.argv[1:5]
n = 0
if os.path.exists(log):
    for line in open(log).read().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("status") != 204 or not rec.get("sig_ok"):
            continue
        for r in rec["body"]["readings"]:
            e = r.get("event") or {}
            if e.get("rule") == rule and e.get("thing") == thing and e.get("event") == kind:
                n += 1
print(n)
PY
}
mails() { ls "$d/mail"/*.eml 2>/dev/null | wc -l; }
events_is() { [ "$(events "$1" "$2" "$3")" = "$4" ]; }
mails_is() { [ "$(mails)" = "$1" ]; }

start

# 1. Twelve minutes above 1000 ppm in a lesson: one event, one mail (the
#    SMTP sink refuses the first DATA with 451: the mail is retried).
send raum-101 09:00 13 1250 || no send "tcp source refused readings"
# 2. The same at night, in another room: nothing.
send raum-102 22:00 30 1500 || no send "tcp source refused readings"
if wait_for 15 events_is co2_high raum-101 opened 1 && wait_for 15 mails_is 1; then
  ok lesson-one-webhook-delivery-and-one-mail
else
  no lesson-one-webhook-delivery-and-one-mail \
    "webhook opened=$(events co2_high raum-101 opened), mails=$(mails)"
fi
sleep 1
n101=$(events co2_high raum-101 opened) n102=$(events co2_high raum-102 opened)
if [ "$n101" = 1 ] && [ "$n102" = 0 ] && [ "$(mails)" = 1 ]; then ok night-gives-none
else no night-gives-none "raum-101 opened=$n101, raum-102 opened=$n102, mails=$(mails)"; fi

# The webhook's event document and the mail: German text, rule, start.
doc=$(python3 - "$d/hook.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    for r in json.loads(line)["body"]["readings"]:
        e = r.get("event")
        if e and e["thing"] == "raum-101":
            print(e["rule"], e["start"], e["value"], e["text"])
PY
)
case $doc in
  "co2_high 2026-03-02T08:00:00.000Z 1250 CO₂ in raum-101 seit 02.03.2026, 09:00 Uhr über 1000 ppm (zuletzt 1250 ppm).")
    ok webhook-event-document ;;
  *) no webhook-event-document "got: $doc" ;;
esac
mail=$(python3 - "$d/mail" <<'PY'
import email, glob, json, sys
from email.header import decode_header, make_header
f = sorted(glob.glob(sys.argv[1] + "/*.eml"))[0]
m = email.message_from_bytes(open(f, "rb").read())
meta = json.load(open(f[:-4] + ".json"))
print(str(make_header(decode_header(m["Subject"]))), "|", m["To"], "|", meta["auth"][0],
      "|", m.get_payload(decode=True).decode().splitlines()[0])
PY
)
case $mail in
  "[klimakit] Alarm: raum-101 – co2_high | hausmeister@schule.example | alarm | CO₂ in raum-101 seit 02.03.2026, 09:00 Uhr über 1000 ppm"*)
    ok mail-subject-and-body ;;
  *) no mail-subject-and-body "got: $mail" ;;
esac

# 3. SIGKILL in the middle of raum-101's episode, restart, more minutes
#    above: no second "opened"; the end of the episode comes once.
kill -9 "$kk_pid"; wait "$kk_pid" 2>/dev/null; kk_pid=
start
send raum-101 09:13 12 1300 || no send "tcp source refused readings after the restart"
send raum-101 09:25 1 850 || no send "tcp source refused readings"
if wait_for 15 events_is co2_high raum-101 closed 1; then
  o=$(events co2_high raum-101 opened)
  if [ "$o" = 1 ] && wait_for 10 mails_is 2; then ok restart-mid-episode-fires-once
  else no restart-mid-episode-fires-once "opened=$o, mails=$(mails)"; fi
else
  no restart-mid-episode-fires-once "no closed event; opened=$(events co2_high raum-101 opened)"
fi

# 4. Hysteresis: above 1000 for 11 minutes, 950 ppm (above clear = 900)
#    for 5 minutes keeps the episode open, 850 ppm closes it.
send raum-103 10:00 11 1100 && send raum-103 10:11 5 950 || no send "refused"
sleep 1
c=$(events co2_high raum-103 closed)
send raum-103 10:16 1 850 || no send "refused"
if [ "$c" = 0 ] && wait_for 10 events_is co2_high raum-103 closed 1 &&
  [ "$(events co2_high raum-103 opened)" = 1 ]; then ok hysteresis
else no hysteresis "closed before 850 ppm: $c; after: $(events co2_high raum-103 closed)"; fi

# 5. A datastream that goes quiet for 3 s: one stale event, once.
send sensor-1 now 1 600 || no send "refused"
if wait_for 15 events_is no_data sensor-1 opened 1; then
  sleep 3
  n=$(events no_data sensor-1 opened)
  send sensor-1 now 1 610 || no send "refused"
  if [ "$n" = 1 ] && wait_for 10 events_is no_data sensor-1 closed 1; then ok stale-fires-once
  else no stale-fires-once "opened $n times, closed $(events no_data sensor-1 closed)"; fi
else
  no stale-fires-once "no stale event in 15 s"
fi
# The classroom datastreams do not match thing = "sensor-*".
if [ "$(events no_data raum-101 opened)" = 0 ]; then ok stale-rule-matches-its-things
else no stale-rule-matches-its-things "raum-101 reported stale"; fi

# The store side: alert_co2_high readings, 1 at the start and 0 at the end.
if grep -q '"thing":"raum-101","property":"alert_co2_high","unit":"1","time":"2026-03-02T08:00:00.000Z","value":1' "$d/events.jsonl" &&
  grep -q '"thing":"raum-101","property":"alert_co2_high","unit":"1","time":"2026-03-02T08:25:00.000Z","value":0' "$d/events.jsonl"; then
  ok event-readings
else
  no event-readings "$(head -c 600 "$d/events.jsonl")"
fi

kk_stop && ok clean-stop || no clean-stop "exit status $?"
exit $fail
