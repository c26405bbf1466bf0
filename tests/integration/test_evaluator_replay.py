"""`pharos replay`: after a change of an evaluator's config (here its "revision"), replaying a time
range of pharos.logs.valid adds Evaluations with the new version for exactly the records of that
range, beside the old ones."""
import json
import time

from harness import (Service, by_record, check, create_topics, evaluator_listing, log, pharos,
                     shared_logs, tail, unique_prefix, wait_for, write_json, write_jsonl)

prefix = unique_prefix()
create_topics(prefix)
default = evaluator_listing()
check(default, "no evaluator kind is built: nothing to test")
K = default[0][1]
old_cfg = write_json({"evaluators": {K: {}}})
new_cfg = write_json({"evaluators": {K: {"revision": 2}}})
v_old = evaluator_listing(old_cfg)[0][3]
v_new = evaluator_listing(new_cfg)[0][3]
check(v_old != v_new, "the revision did not change the version")

logs = shared_logs(500)
batches = []
for b, (start, n) in enumerate([(0, 200), (200, 200), (400, 100)]):
    lines = []
    for i in range(start, start + n):
        r = json.loads(logs[i])
        r["record_id"] = "rp%d-%d" % (b, i)
        lines.append(json.dumps(r))
    batches.append(lines)

val = Service("validator", prefix)
ev = Service("evaluator", prefix, "--evaluators=" + old_cfg)
done = 0
marks = []
for b, lines in enumerate(batches):
    if b:
        time.sleep(1.0)
        marks.append(int(time.time() * 1000))  # before this batch is validated
        time.sleep(1.0)
    r = pharos("send", write_jsonl(lines), "--kafka", prefix=prefix)
    check(b"accepted=%d rejected=0" % len(lines) in r.stdout, "send: %s" % r.stdout)
    done += len(lines)
    wait_for("batch %d to be evaluated" % b,
             lambda: ev.metric("pharos_evaluator_records_total") >= done, timeout=120)
t0, t1 = marks  # batch 1 lies between them
rfc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 // 1000)) + ".%03dZ" % (t0 % 1000)
r = pharos("replay", "--from=" + rfc, "--to=%d" % t1, "--evaluators=" + new_cfg, prefix=prefix)
out = r.stdout.decode()
log(out.strip())
check("replayed records=%d poison=0" % len(batches[1]) in out and "failed=0" in out,
      "replay: %s %s" % (out, r.stderr.decode()[-500:]))

got = by_record(tail(prefix, "evals"))
new_ids = {rid for rid, names in got.items()
           if any(e["evaluator_version"] == v_new for es in names.values() for e in es)}
want = {json.loads(x)["record_id"] for x in batches[1]}
check(new_ids == want, "new version for %d records, %d expected; extra %s, missing %s" % (
    len(new_ids), len(want), sorted(new_ids - want)[:3], sorted(want - new_ids)[:3]))
for b in batches:
    for x in b:
        rid = json.loads(x)["record_id"]
        olds = [e for es in got[rid].values() for e in es if e["evaluator_version"] == v_old]
        check(olds, "%s lost its old evaluations" % rid)
# a range with nothing in it, and a bad time
r = pharos("replay", "--from=%d" % (int(time.time() * 1000) + 3600000), prefix=prefix)
check(b"replayed records=0" in r.stdout, "empty range: %s" % r.stdout)
r = pharos("replay", "--from=yesterday", prefix=prefix, check_rc=False)
check(r.returncode == 2, "a bad --from: %d" % r.returncode)
check(ev.stop() == 0, "evaluator exit code:\n" + ev.log())
val.stop()
log("ok")
