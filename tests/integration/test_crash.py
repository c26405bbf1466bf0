"""Kill the validator with SIGKILL mid-stream and restart it: under read_committed every raw
record appears exactly once in pharos.logs.valid or pharos.logs.invalid: none lost, none twice."""
import json
import subprocess
import time

from harness import (BIN, BROKERS, Service, check, create_topics, exactly_once, log, pharos,
                     tail, unique_prefix, wait_for, write_jsonl)

N = 40000
prefix = unique_prefix()
create_topics(prefix)

records = []
for i in range(N):
    r = {"record_id": "c-%d" % i, "session_id": "s-%d" % (i % 5000), "turn": 1 + i // 5000,
         "messages": [{"role": "user", "content": "question %d: how do I reset my password?" % i}],
         "response": "Open Settings, then Security, then Reset password. (%d)" % i}
    if i % 10 == 0:
        del r["response"]  # every tenth is invalid: missing output
    records.append(json.dumps(r))
path = write_jsonl(records)

# Transactions of a few thousand records: the kill lands inside one whose records are already
# written to the output topics (visible under read_uncommitted below) but not committed.
flags = ["--commit_interval_ms=300", "--max_batch=3000", "--instance=crash-test"]
val = Service("validator", prefix, *flags)
sender = subprocess.Popen([BIN["pharos"], "send", path, "--kafka", "--brokers=" + BROKERS,
                           "--topic_prefix=" + prefix], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
wait_for("the validator to commit its first records",
         lambda: val.metric("pharos_validator_records_total") >= 1, timeout=180, interval=0.02)
time.sleep(0.15)  # into the next transaction
val.kill()
committed_at_kill = len(tail(prefix, "valid")) + len(tail(prefix, "invalid"))
out, err = sender.communicate(timeout=600)
check(sender.returncode == 0 and b"accepted=%d" % N in out, "send: %s %s" % (out, err[-500:]))
log("committed when killed: %d of %d" % (committed_at_kill, N))
check(committed_at_kill < N, "the validator finished before the kill; the test proves nothing")

# Restart with the same instance name: same transactional id, so the dead instance's open
# transaction is fenced and aborted at once.
val.start()


def done():
    n = val.metric("pharos_validator_records_total")
    return n >= N - committed_at_kill and n


wait_for("the restarted validator to catch up", done, timeout=600, interval=1)
# Give a moment for nothing else to arrive, then count under read_committed.
time.sleep(2)
valid = tail(prefix, "valid")
invalid = tail(prefix, "invalid")
log("valid %d, invalid %d" % (len(valid), len(invalid)))
exactly_once(["c-%d" % i for i in range(N)], valid, invalid)
check(all(r["record_id"] in {"c-%d" % i for i in range(0, N, 10)} for r in invalid),
      "a valid record was rejected")
check(len(invalid) == N // 10, "invalid count %d" % len(invalid))

# The aborted writes of the killed instance do exist in the log: read_uncommitted sees them,
# read_committed (above) does not.
r = pharos("tail", "valid", "--from_beginning", "--until_end",
           "--kafka.isolation.level=read_uncommitted", prefix=prefix)
uncommitted = len(r.stdout.splitlines())
log("valid under read_uncommitted: %d (committed: %d)" % (uncommitted, len(valid)))
check(uncommitted >= len(valid), "read_uncommitted saw fewer records")
check(val.stop() == 0, "validator exit code:\n" + val.log())
log("ok")
