"""Stop the broker while the ingestor takes requests: clients get 503 with Retry-After (never a
hang, never a 202 for what Kafka did not acknowledge), and every acknowledged record is in the
topic once the broker is back."""
import json
import os
import subprocess
import threading
import time

from harness import (SOURCE, Service, check, create_topics, http, log, tail, unique_prefix,
                     wait_for)

PORT = int(os.environ.get("PHAROS_OUTAGE_KAFKA_PORT", "39192"))
BROKERS = "127.0.0.1:%d" % PORT
STATE = os.path.join(os.environ.get("PHAROS_TEST_STATE", "/tmp/pharos-test"), "kafka-outage")
ENV = dict(os.environ, PHAROS_KAFKA_PORT=str(PORT), PHAROS_KAFKA_STATE_DIR=STATE)
BROKER = os.path.join(SOURCE, "deploy/kafka/broker.sh")


def broker(cmd):
    subprocess.run([BROKER, cmd], env=ENV, check=True)


subprocess.run(["rm", "-rf", STATE], check=True)
broker("start")
try:
    prefix = unique_prefix()
    create_topics(prefix, partitions=3, brokers=BROKERS)
    # A short delivery timeout bounds how long a request may wait for Kafka.
    ing = Service("ingestor", prefix, "--kafka.message.timeout.ms=6000", "--retry_after_s=2",
                  brokers=BROKERS)
    results = []  # (batch number, status, retry-after)
    stop = threading.Event()

    def client():
        b = 0
        while not stop.is_set():
            body = "\n".join(json.dumps({"record_id": "o-%d-%d" % (b, i), "session_id": "s%d" % i,
                                         "messages": [{"role": "user", "content": "hi"}],
                                         "response": "hello"}) for i in range(20))
            status, _, hdrs = http("POST", ing.url + "/v1/logs", body, timeout=60)
            results.append((b, status, hdrs.get("Retry-After")))
            b += 1
            time.sleep(0.05)

    t = threading.Thread(target=client)
    t.start()
    wait_for("some accepted requests", lambda: sum(1 for r in results if r[1] == 202) >= 10)
    broker("stop")
    down_from = len(results)
    wait_for("clients to get 503s", lambda: any(r[1] == 503 for r in results[down_from:]),
             timeout=120)
    wait_for("more 503s", lambda: sum(1 for r in results[down_from:] if r[1] == 503) >= 5,
             timeout=120)
    broker("start")
    up_from = len(results)
    wait_for("202s after the broker is back",
             lambda: sum(1 for r in results[up_from:] if r[1] == 202) >= 10, timeout=180)
    stop.set()
    t.join()

    statuses = {s for _, s, _ in results}
    log("answers: %s" % {s: sum(1 for r in results if r[1] == s) for s in statuses})
    check(statuses <= {202, 503}, "unexpected statuses %s" % statuses)
    check(all(ra is not None for _, s, ra in results if s == 503), "503 without Retry-After")

    acked = {"o-%d-%d" % (b, i) for b, s, _ in results if s == 202 for i in range(20)}
    raw = tail(prefix, "raw", brokers=BROKERS)
    present = {json.loads(json.dumps(r))["record_id"] for r in raw}
    lost = acked - present
    check(not lost, "%d acknowledged records lost, e.g. %s" % (len(lost), sorted(lost)[:5]))
    log("acknowledged %d records, all present; topic holds %d (retries of 503s may add)" %
        (len(acked), len(raw)))
    check(ing.stop() == 0, "ingestor exit code:\n" + ing.log())
finally:
    broker("stop")
log("ok")
