"""The optional LLM judge of whole sessions in pharos-evaluator (the "judge" member of the
evaluator config's "sessions" object) against tests/judge_server.py: an ended session's
conversation (its turns as user and assistant messages, the last output as the response) is
judged besides the deterministic measures, the results are session.judge.<criterion> with
record_id "session:<id>", gates see the deterministic session results, the session is marked
evaluated only once the judge's results are acknowledged, a SIGTERM with the judge's verdict
outstanding leaves the session for the next start (no SKIPPED "shut down" result is produced), a
change of the judge config leaves the deterministic measures' version alone, and a bad
sessions.judge stops the start-up with its path in the message.

The test server's marker [[judge:score=N]] in a conversation sets the judge's score: in a turn's
response it proves which texts reached the judge."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

from harness import (BIN, BROKERS, SOURCE, Service, by_record, check, create_topics, log, pharos,
                     tail, unique_prefix, wait_for, write_json, write_jsonl)

prefix = unique_prefix()
create_topics(prefix)
db = os.path.join(tempfile.mkdtemp(prefix="pharos-session-judge-"), "sessions.db")
server = subprocess.Popen([sys.executable, os.path.join(SOURCE, "tests", "judge_server.py"),
                           "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
port = int(server.stdout.readline().split()[1])


def control(**kw):
    subprocess.run(["curl", "-s", "-X", "POST", "http://127.0.0.1:%d/control" % port, "-d",
                    json.dumps(kw)], capture_output=True, timeout=30)


def judge_config(**extra):
    cfg = {"endpoint": "http://127.0.0.1:%d/v1" % port, "model": "test-judge",
           "timeout_ms": 300000, "max_inflight": 8,
           "criteria": ["user_distress", "tone",
                        {"name": "repeats", "template": "user_distress",
                         "gate": "session.repeated_questions.label == repeated"}]}
    cfg.update(extra)
    return {"sessions": {"judge": cfg}}


def turn(sid, n, question, answer, end=False):
    r = {"record_id": "%s-t%d" % (sid, n), "session_id": sid, "turn": n, "app": "bot",
         "messages": [{"role": "user", "content": question}], "response": answer}
    if end:
        r["metadata"] = {"session_end": True}
    return json.dumps(r)


def send(lines):
    r = pharos("send", write_jsonl(lines), "--kafka", prefix=prefix)
    check(b"accepted=%d rejected=0" % len(lines) in r.stdout, "send: %s" % r.stdout)


def evaluated(sid):
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute("SELECT evaluated_ms FROM sessions WHERE session_id = ?",
                           (sid,)).fetchall()
    finally:
        con.close()
    return bool(rows) and rows[0][0] is not None


def session_results(sid):
    return by_record(tail(prefix, "evals")).get("session:" + sid, {})


def one_ok(names, name, sid):
    es = names.get(name, [])
    check(len(es) == 1, "session:%s %s: %d results: %s" % (sid, name, len(es), es))
    e = es[0]
    check(e["status"] == "OK", "session:%s %s: %s" % (sid, name, e))
    check(e["session_id"] == sid and e["app"] == "bot", "session:%s %s: %s" % (sid, name, e))
    check(e["evaluator_version"].startswith("1."), "judge version: %s" % e)
    return e


# ---- a bad sessions.judge stops the start-up, with its path ----------------------------------

def start_fails(config, expect):
    r = subprocess.run([BIN["evaluator"], "--brokers=" + BROKERS, "--topic_prefix=" + prefix,
                        "--http_addr=http://127.0.0.1:0", "--sessions_db=" + db + ".bad",
                        "--evaluators=" + write_json(config)], capture_output=True, timeout=120)
    err = r.stderr.decode(errors="replace")
    check(r.returncode != 0, "started with %s:\n%s" % (config, err))
    check(expect in err, "no %r in the error:\n%s" % (expect, err))


start_fails({"sessions": {"judge": {"model": "m", "criteria": ["user_distress"]}}},
            "sessions.judge: endpoint is required")
start_fails({"sessions": {"judge": {"endpoint": "http://127.0.0.1:1/v1",
                                    "criteria": [{"name": "tone", "bogus": 1}]}}},
            'sessions.judge.criteria[tone]: unknown key "bogus"')
# the rest of the sessions object is still checked
start_fails({"sessions": {"judge": judge_config()["sessions"]["judge"], "bogus": 1}},
            'unknown key "bogus"')

# ---- judged sessions --------------------------------------------------------------------------

cfg = write_json(judge_config())
ev = Service("evaluator", prefix, "--evaluators=" + cfg, "--sessions_db=" + db,
             "--session_idle_ms=600000", "--commit_interval_ms=200", "--grace_ms=1500",
             "--instance=sj")
val = Service("validator", prefix)

# S1: the marker is in the first turn's response: only the conversation carries it.
# S2: the marker is in the last response (the judged "output", not part of the conversation),
# and the user asks the same question twice (the gated criterion applies).
send([turn("S1", 1, "My parcel has not arrived.", "Sorry to hear that. [[judge:score=4]]"),
      turn("S2", 1, "How do I cancel my subscription plan?", "Go to Billing."),
      turn("S1", 2, "It is two weeks late now.", "I have asked the carrier."),
      turn("S2", 2, "How do I cancel my subscription plan?",
           "Billing, then Cancel. [[judge:score=5]]", end=True),
      turn("S1", 3, "Thanks.", "You are welcome.", end=True)])
wait_for("S1 and S2 to be evaluated", lambda: evaluated("S1") and evaluated("S2"), timeout=120)

got = by_record(tail(prefix, "evals"))
for sid, n in (("S1", 3), ("S2", 2)):
    names = got.get("session:" + sid, {})
    for measure in ("turns", "frustration", "repeated_questions", "answered"):
        check(len(names.get("session." + measure, [])) == 1,
              "session:%s session.%s: %s" % (sid, measure, sorted(names)))
    check(names["session.turns"][0]["values"]["turns"] == n, "session:%s turns" % sid)
    judged = sorted(k for k in names if k.startswith("session.judge."))
    check(judged == (["session.judge.tone", "session.judge.user_distress"] if sid == "S1" else
                     ["session.judge.repeats", "session.judge.tone",
                      "session.judge.user_distress"]),
          "session:%s judge results: %s" % (sid, judged))
    check(not any(k.startswith("judge.") for k in names), "session:%s: %s" % (sid, sorted(names)))

s1 = got["session:S1"]
e = one_ok(s1, "session.judge.user_distress", "S1")
check(e["values"]["raw_score"] == 4 and abs(e["score"] - 0.75) < 1e-9, "S1 distress: %s" % e)
check(e["label"] == "none" and e["passed"] is False, "S1 distress: %s" % e)
e = one_ok(s1, "session.judge.tone", "S1")
check(e["values"]["raw_score"] == 4 and e["passed"] is True, "S1 tone: %s" % e)
distress_version = s1["session.judge.user_distress"][0]["evaluator_version"]
turns_version = s1["session.turns"][0]["evaluator_version"]

s2 = got["session:S2"]
check(s2["session.repeated_questions"][0]["label"] == "repeated", "S2: %s" %
      s2["session.repeated_questions"])
# user_distress reads the conversation only: without the marker, the server's default (4 of 5)
e = one_ok(s2, "session.judge.user_distress", "S2")
check(e["values"]["raw_score"] == 4, "S2 distress saw the last output: %s" % e)
# tone reads the response too: the last turn's output
e = one_ok(s2, "session.judge.tone", "S2")
check(e["values"]["raw_score"] == 5 and e["score"] == 1.0, "S2 tone: %s" % e)
one_ok(s2, "session.judge.repeats", "S2")
check(ev.metric("pharos_evaluator_session_judge_tokens") > 0, "session judge tokens metric")

# ---- SIGTERM with a verdict outstanding: the session waits for the next start ----------------

control(delay_ms=600000)
send([turn("S3", 1, "Where is my refund?", "It is on its way."),
      turn("S3", 2, "You said that last week.", "I am sorry.", end=True)])
wait_for("S3's deterministic results", lambda: "session.turns" in session_results("S3"),
         timeout=120)
wait_for("the session judge to wait for S3",
         lambda: ev.metric("pharos_evaluator_session_judge_pending") > 0, timeout=60)
rc = ev.stop()
log("evaluator stopped with the judge's verdict outstanding: exit %d" % rc)
# 1: drained with work left (the verdict); never a crash (a signal) on the judge's results
check(rc in (0, 1), "exit %d:\n%s" % (rc, ev.log()))
check(not evaluated("S3"), "S3 marked evaluated without its judge results")
names = session_results("S3")
check(not any(k.startswith("session.judge.") for k in names),
      "judge results produced at shutdown: %s" % {k: v for k, v in names.items()
                                                  if k.startswith("session.judge.")})

# The next start, with another judge config: S3 is evaluated again and judged; its
# deterministic measures keep their version (the judge config is not part of it), the judge's
# results get a new one.
control(delay_ms=0)
with open(cfg, "w") as f:
    json.dump(judge_config(max_tokens=200), f)
ev.start()
wait_for("S3 to be evaluated after the restart", lambda: evaluated("S3"), timeout=120)
names = session_results("S3")
e = one_ok(names, "session.judge.user_distress", "S3")
check(e["evaluator_version"] != distress_version, "judge version unchanged: %s" % e)
turns_s3 = names["session.turns"]
check(len(turns_s3) == 2, "S3 session.turns: %d results (expected the documented duplicate)"
      % len(turns_s3))
check(all(t["evaluator_version"] == turns_version for t in turns_s3),
      "session.turns versions: %s vs %s" % ([t["evaluator_version"] for t in turns_s3],
                                            turns_version))
check(ev.stop() == 0, "evaluator exit code:\n" + ev.log())
val.stop()
server.kill()
server.wait()
log("ok")
