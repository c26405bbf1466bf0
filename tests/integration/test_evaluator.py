"""pharos-evaluator end to end on a real broker, and `pharos eval` offline on the same records.

Logs go in through the validator path (`pharos send --kafka` -> pharos.logs.raw -> validator ->
pharos.logs.valid), plus undecodable records written straight into pharos.logs.valid. Every
record must get exactly the evaluations the evaluator config file says (names, versions,
overrides), keyed like its input; the poison records get a "decode" ERROR; and `pharos eval` run
offline on the same JSONL file must say exactly what the service said. The config file is made
from whatever kinds are built (`pharos eval --list`), so the test holds for any registry."""
import json
import os

from harness import (DATA, EVALUATION_FIELDS, Service, by_record, check, create_topics,
                     evaluator_listing, kcat_keys, kcat_produce, log, offline_eval, pharos,
                     same_result, shared_logs, tail, unique_prefix, wait_for, write_json,
                     write_jsonl)

N = int(os.environ.get("PHAROS_TEST_RECORDS", "2000"))
prefix = unique_prefix()
create_topics(prefix)

# ---- the evaluator config: every default instance, a renamed copy, an override ---------------
default = evaluator_listing()
check(default, "no evaluator kind is built: nothing to test")
kinds = [name for (_, name, _, _) in default]
K = kinds[0]
config = {"evaluators": {k: {} for k in kinds},
          "overrides": [{"match": {"app": "quiet-app"}, "evaluators": {K: False}}]}
config["evaluators"][K + "_again"] = {"kind": K, "revision": 1}
cfg = write_json(config)
listing = evaluator_listing(cfg)
versions = {(v, n): ver for (v, n, _, ver) in listing}
check(versions[("*", K)] != versions[("*", K + "_again")], "a revision did not change the version")
check(versions[("*", K)].split(".")[0] == versions[("*", K + "_again")].split(".")[0],
      "the same kind has two code versions")
check(("app=quiet-app", K) not in versions, "the override did not disable %s" % K)
log("evaluators: %s" % ", ".join("%s=%s" % (n, v) for (w, n), v in versions.items() if w == "*"))

# ---- input ------------------------------------------------------------------------------------
records = []
for i, line in enumerate(shared_logs(N)):
    r = json.loads(line)
    r["record_id"] = "e2e-%d" % i
    if i % 10 == 0:
        r["app"] = "quiet-app"
    records.append(json.dumps(r))
path = write_jsonl(records)
sessions = {json.loads(r)["session_id"] for r in records}

val = Service("validator", prefix)
ev = Service("evaluator", prefix, "--evaluators=" + cfg, "--workers=2", "--instance=e2e")
r = pharos("send", path, "--kafka", prefix=prefix)
check(b"accepted=%d rejected=0" % N in r.stdout, "send: %s" % r.stdout)
poison = [b"not avro at all", b"\xc3\x01" + b"\x00" * 8 + b"unknown fingerprint",
          b"\xc3\x01" + b"\xff" * 20]
kcat_produce(prefix + "pharos.logs.valid", poison)

wait_for("the evaluator to finish %d records" % (N + len(poison)),
         lambda: ev.metric("pharos_evaluator_records_total") >= N + len(poison), timeout=600,
         interval=0.5)
check(ev.metric("pharos_evaluator_poison_total") == len(poison), "poison count")
evals = tail(prefix, "evals")
log("%d evaluations for %d records" % (len(evals), N + len(poison)))

# ---- what the service said --------------------------------------------------------------------
got = by_record(evals)
for e in evals:
    check(list(e.keys()) == EVALUATION_FIELDS, "Evaluation fields: %s" % list(e.keys()))
decode = [e for e in evals if e["evaluator"] == "decode"]
check(len(decode) == len(poison), "%d decode errors for %d poison records" % (len(decode),
                                                                         len(poison)))
for e in decode:
    check(e["status"] == "ERROR" and e["record_id"].startswith("kafka:%spharos.logs.valid:" %
                                                                prefix)
          and "undecodable" in e["explanation"], "decode error: %s" % e)
dups = [(rid, name) for rid, names in got.items() for name, es in names.items() if len(es) > 1]
check(not dups, "duplicates without a crash: %s" % dups[:5])

# ---- `pharos eval` on the same file -----------------------------------------------------------
offline, err = offline_eval(path, cfg)
check("%d records evaluated, 0 invalid" % N in err, "offline summary: %s" % err[-500:])
want = by_record(offline)
check(set(want) == set(got) - {e["record_id"] for e in decode},
      "record ids differ: %d offline, %d by the service" % (len(want), len(got)))
for rid, names in want.items():
    i = int(rid.split("-")[1])
    check(set(names) == set(got[rid]), "%s: evaluators %s offline, %s by the service" % (
        rid, sorted(names), sorted(got[rid])))
    prefixes = {n.split(".")[0] for n in names}
    if i % 10 == 0:
        check(K not in prefixes and K + "_again" in prefixes, "%s: override not applied" % rid)
    else:
        check(K in prefixes and K + "_again" in prefixes, "%s: %s missing" % (rid, K))
    for name, es in names.items():
        s = got[rid][name][0]
        check(same_result(es[0], s), "%s %s: offline %s, service %s" % (rid, name, es[0], s))
        check(s["evaluator_version"] == versions[("*", name.split(".")[0])],
              "%s %s: version %s" % (rid, name, s["evaluator_version"]))
        check(s["session_id"] == json.loads(records[i])["session_id"], "session id")

# keyed like the input: by session
keys = set(kcat_keys(prefix + "pharos.evals"))
check(keys <= sessions | {"poison-%d" % i for i in range(len(poison))},
      "evaluations keyed otherwise: %s" % sorted(keys - sessions)[:5])
check(ev.stop() == 0, "evaluator exit code:\n" + ev.log())
val.stop()

# ---- `pharos eval` alone: invalid lines, and the whole shared data set -------------------------
small = write_jsonl([records[1], "not json", json.dumps({"response": "no input"}), "",
                     records[2]])
out, err = offline_eval(small)
check("%s:2: invalid record: invalid_json" % small in err, "invalid line 2: %s" % err)
check("%s:3: invalid record: missing_field (messages)" % small in err, "invalid line 3: %s" % err)
check("5 lines, 2 records evaluated, 2 invalid" in err, "summary: %s" % err)
check({e["record_id"] for e in out} == {"e2e-1", "e2e-2"}, "ids: %s" % out)
full = os.path.join(DATA, "llm_logs.jsonl")
out, err = offline_eval(full)
nlines = sum(1 for line in open(full) if line.strip())
check("%d records evaluated, 0 invalid" % nlines in err, "shared data: %s" % err[-300:])
per_record = len(out) / nlines
check(all(list(e.keys()) == EVALUATION_FIELDS for e in out), "shared data: fields")
log("pharos eval on the shared data: %d records, %d evaluations" % (nlines, len(out)))
log("ok")
