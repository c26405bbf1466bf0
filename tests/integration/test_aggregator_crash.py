"""pharos-aggregator killed with SIGKILL mid-stream: after the restart every record is counted
exactly once. The store commits often (small batches), the kill lands between commits, and the
restarted instance resumes from the offsets the store holds. Then the same records are sent again
(duplicates across a restart): the counts do not move."""
import json
import os
import threading
import time

from harness import (Service, check, create_topics, http, log, pharos, shared_logs, unique_prefix,
                     wait_for, write_jsonl)

N = 6000
prefix = unique_prefix()
create_topics(prefix, partitions=6)
db = "/tmp/%saggregator.db" % prefix
T0 = (int(time.time() * 1000) // 3600000 - 2) * 3600000
records = []
for i, line in enumerate(shared_logs(N)):
    r = json.loads(line)
    r["record_id"] = "crash-%d" % i
    r["app"] = "app-%d" % (i % 4)
    r["start_time"] = T0 + (i % 30) * 60000
    r["latency_ms"] = 10 + i % 500
    records.append(json.dumps(r))
path = write_jsonl(records)
CHUNK = 500
chunks = [write_jsonl(records[i:i + CHUNK]) for i in range(0, N, CHUNK)]

# The records trickle in while the aggregator runs, so the kill lands mid-stream however fast
# the machine is (sending them all first let a quick aggregator finish before the kill).
val = Service("validator", prefix)
flags = ["--db=" + db, "--commit_interval_ms=100", "--max_batch=300"]
agg = Service("aggregator", prefix, *flags)
sent = []


def send_slowly():
    for c in chunks:
        if pharos("send", c, "--kafka", prefix=prefix, check_rc=False).returncode != 0:
            return
        sent.append(c)
        time.sleep(0.3)


sender = threading.Thread(target=send_slowly, daemon=True)
sender.start()
wait_for("the aggregator to be part-way",
         lambda: agg.metric("pharos_aggregator_events_total") >= N // 4, timeout=300,
         interval=0.05)
read_before = agg.metric("pharos_aggregator_events_total")
still_sending = len(sent) < len(chunks)
agg.kill()
check(still_sending and read_before < N,
      "the stream ended before the kill (%d read): the test proves nothing" % read_before)
log("killed after reading %d of %d records" % (read_before, N))

agg.start()


def totals():
    status, body, _ = http("GET", agg.url + "/api/v1/summary?from=%d&to=%d"
                           % (T0 - 3600000, int(time.time() * 1000) + 3600000))
    check(status == 200, "summary: %s %s" % (status, body[:300]))
    return json.loads(body)["totals"]


sender.join()
check(len(sent) == len(chunks), "pharos send failed after %d of %d chunks" % (len(sent), len(chunks)))
wait_for("the validator", lambda: val.metric("pharos_validator_records_total") >= N, timeout=300)
wait_for("every record counted", lambda: totals().get("requests", 0) >= N, timeout=300)
time.sleep(2)  # a double count would show up in the next commits
t = totals()
check(t.get("requests") == N, "requests after the crash: %s, want %d" % (t.get("requests"), N))

# The same records again: remembered across the restart, so not counted again.
pharos("send", path, "--kafka", prefix=prefix)
wait_for("the duplicates to be read",
         lambda: agg.metric("pharos_aggregator_duplicates") >= N, timeout=300)
time.sleep(2)
t = totals()
check(t.get("requests") == N, "requests after duplicates: %s, want %d" % (t.get("requests"), N))
check(agg.stop() == 0, "aggregator exit code")
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.remove(db + suffix)
log("ok")
