"""The judge role of pharos-evaluator against an OpenAI-compatible test server
(tests/judge_server.py): its own consumer group, the cheap set run only as a gate, one
judge.<criterion> Evaluation per applying criterion and record (and no cheap ones), records done
only once their judge results are acknowledged, and a SIGTERM drain that leaves a slow judge's
unfinished records for the next start (they are judged then, not dropped)."""
import json
import os
import subprocess
import sys

from harness import (SOURCE, Service, by_record, check, create_topics, log, pharos, shared_logs,
                     tail, unique_prefix, wait_for, write_json, write_jsonl)

N = 300
prefix = unique_prefix()
create_topics(prefix)
server = subprocess.Popen([sys.executable, os.path.join(SOURCE, "tests", "judge_server.py"),
                           "--port", "0", "--delay-ms", "20"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
port = int(server.stdout.readline().split()[1])
cfg = write_json({"evaluators": {}, "judge": {
    "endpoint": "http://127.0.0.1:%d/v1" % port, "model": "test-judge", "max_inflight": 32,
    "criteria": ["relevance", {"name": "half", "template": "relevance", "sample_rate": 0.5}]}})

lines = []
for i, line in enumerate(shared_logs(N)):
    r = json.loads(line)
    r["record_id"] = "j-%d" % i
    lines.append(json.dumps(r))
val = Service("validator", prefix)
judge = Service("evaluator", prefix, "--role=judge", "--evaluators=" + cfg, "--instance=j1",
                "--grace_ms=1500")
check("group %spharos-judge" % prefix in judge.log(), "judge role group:\n" + judge.log())
r = pharos("send", write_jsonl(lines), "--kafka", prefix=prefix)
check(b"accepted=%d rejected=0" % N in r.stdout, "send: %s" % r.stdout)
wait_for("the judge to finish", lambda: judge.metric("pharos_evaluator_records_total") >= N,
         timeout=300, interval=0.5)
got = by_record(tail(prefix, "evals"))
check(len(got) == N, "%d records judged" % len(got))
half = 0
for rid, names in got.items():
    check("judge.relevance" in names, "%s: no judge.relevance: %s" % (rid, sorted(names)))
    check(set(names) <= {"judge.relevance", "judge.half"}, "%s: %s" % (rid, sorted(names)))
    for name, es in names.items():
        check(len(es) == 1 and es[0]["status"] == "OK", "%s %s: %s" % (rid, name, es))
    half += "judge.half" in names
log("judge.half sampled %d of %d records" % (half, N))
check(0.3 * N < half < 0.7 * N, "sample_rate 0.5 gave %d of %d" % (half, N))

# A slow judge and a SIGTERM: what is unfinished is not done, so the restart judges it.
pharos("send", write_jsonl([l.replace('"j-', '"k-') for l in lines[:50]]), "--kafka",
       prefix=prefix)
subprocess.run(["curl", "-s", "-X", "POST", "http://127.0.0.1:%d/control" % port, "-d",
                json.dumps({"delay_ms": 3000})], capture_output=True, timeout=30)
wait_for("judge requests in flight",
         lambda: judge.metric("pharos_evaluator_judge_pending") > 0, timeout=60, interval=0.1)
judge.stop()
subprocess.run(["curl", "-s", "-X", "POST", "http://127.0.0.1:%d/control" % port, "-d",
                json.dumps({"delay_ms": 0})], capture_output=True, timeout=30)
judge.start()
wait_for("every k- record to be judged", lambda: sum(
    1 for rid in by_record(tail(prefix, "evals")) if rid.startswith("k-")) == 50, timeout=300,
    interval=2)
check(judge.stop() == 0, "judge exit code:\n" + judge.log())
val.stop()
server.kill()
server.wait()
log("ok")
