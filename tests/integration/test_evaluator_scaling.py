"""Scaling and crash: three pharos-evaluator processes share a 12-partition pharos.logs.valid on
the real broker; one is killed with SIGKILL mid-stream. Afterwards every valid record has all its
evaluations (those `pharos eval` computes offline for the same file), and the only duplicates
are the documented ones: records of the partitions the killed instance held, evaluated by it
but not yet committed (at most its in-flight records and the last commit interval), evaluated
again, identically, by the instance that took the partition over."""
import json
import os
import re
import subprocess
import time

from harness import (BIN, BROKERS, Service, by_record, check, create_topics, log, offline_eval,
                     same_result, shared_logs, tail, unique_prefix, wait_for, write_jsonl)

N = int(os.environ.get("PHAROS_TEST_SCALING_RECORDS", "20000"))
prefix = unique_prefix()
create_topics(prefix, partitions=12)

records = []
for i, line in enumerate(shared_logs(N)):
    r = json.loads(line)
    r["record_id"] = "sc-%d" % i
    records.append(json.dumps(r))
path = write_jsonl(records)
expected = {rid: set(names) for rid, names in by_record(offline_eval(path)[0]).items()}
check(len(expected) == N, "offline evaluation: %d records" % len(expected))

val = Service("validator", prefix, "--instance=sc-v")
flags = ["--workers=1", "--commit_interval_ms=500", "--max_inflight_records=500"]
evs = [Service("evaluator", prefix, "--instance=sc-e%d" % i, *flags) for i in range(3)]
sender = subprocess.Popen([BIN["pharos"], "send", path, "--kafka", "--brokers=" + BROKERS,
                           "--topic_prefix=" + prefix], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)


def done_total():
    return sum(e.metric("pharos_evaluator_records_total") for e in evs if e.proc.poll() is None)


wait_for("a quarter of the records to be evaluated", lambda: done_total() >= N // 4,
         timeout=600, interval=0.2)
victim = evs[1]
before = victim.metric("pharos_evaluator_records_total")
time.sleep(1)
done_by_victim = victim.metric("pharos_evaluator_records_total")
victim_rate = done_by_victim - before  # records per second, for the duplicate bound
assigned = re.findall(r"partitions assigned: ([\d ]*)", victim.log())
check(assigned, "the victim has no partitions:\n" + victim.log())
victim_parts = {int(p) for p in assigned[-1].split()}
victim.kill()
log("killed %s holding partitions %s after %d records" % (victim.name, sorted(victim_parts),
                                                          done_by_victim))
out, err = sender.communicate(timeout=600)
check(sender.returncode == 0 and b"accepted=%d" % N in out, "send: %s %s" % (out, err[-500:]))


def covered():
    evals = tail(prefix, "evals")
    got = by_record(evals)
    missing = [rid for rid, names in expected.items() if set(got.get(rid, {})) != names]
    log("%d evaluations; %d records not yet complete" % (len(evals), len(missing)))
    return (evals, got) if not missing else None


time.sleep(5)
evals, got = wait_for("every record to have its evaluations", covered, timeout=600, interval=10)
check(set(got) == set(expected), "unexpected records: %s" % sorted(set(got) - set(expected))[:5])

# Duplicates: identical, and only in the killed instance's partitions. Evaluations are keyed
# and partitioned like their input, so their partition is the record's.
r = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", prefix + "pharos.evals", "-e", "-q",
                    "-f", "%p %k\\n"], capture_output=True, timeout=300)
part_of_session = {}
for line in r.stdout.decode().splitlines():
    p, _, key = line.partition(" ")
    part_of_session[key] = int(p)
dup_records = set()
for rid, names in got.items():
    for name, es in names.items():
        if len(es) > 1:
            dup_records.add(rid)
            check(all(same_result(es[0], e) for e in es[1:]), "%s %s: duplicates differ: %s" %
                  (rid, name, es))
            part = part_of_session[es[0]["session_id"]]
            check(part in victim_parts, "%s duplicated in partition %d, not the victim's %s" %
                  (rid, part, sorted(victim_parts)))
log("%d records evaluated twice (all in the killed instance's partitions)" % len(dup_records))
# what was in flight (max_inflight_records) plus what the last commit interval (500 ms, and the
# commit's round trip) had not covered yet
bound = 500 + 2 * victim_rate + 100
check(len(dup_records) <= bound, "%d duplicates, more than %d" % (len(dup_records), bound))
for e in evs:
    if e is not victim:
        check(e.stop() == 0, "%s exit code:\n%s" % (e.name, e.log()))
val.stop()
log("ok")
