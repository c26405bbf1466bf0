"""Sessions in pharos-evaluator: turns are kept in SQLite (--sessions_db), a session is evaluated
when a record says session_end=true or when it has been idle for session_idle_ms, its results
carry record_id "session:<id>", and the state survives a SIGKILL and restart (a turn committed
before the crash is still there; the turn after the restart joins it)."""
import json
import os
import sqlite3
import tempfile
import time

from harness import (Service, by_record, check, create_topics, log, pharos, tail,
                     unique_prefix, wait_for, write_jsonl)

IDLE_MS = 8000
prefix = unique_prefix()
create_topics(prefix)
db = os.path.join(tempfile.mkdtemp(prefix="pharos-sessions-"), "sessions.db")


def turn(sid, n, question, answer, end=False):
    r = {"record_id": "%s-t%d" % (sid, n), "session_id": sid, "turn": n, "app": "bot",
         "messages": [{"role": "user", "content": question}], "response": answer}
    if end:
        r["metadata"] = {"session_end": True}
    return json.dumps(r)


def send(lines):
    r = pharos("send", write_jsonl(lines), "--kafka", prefix=prefix)
    check(b"accepted=%d rejected=0" % len(lines) in r.stdout, "send: %s" % r.stdout)


def query(sql, *args):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def evaluated(sid):
    rows = query("SELECT evaluated_ms FROM sessions WHERE session_id = ?", sid)
    return bool(rows) and rows[0][0] is not None


def turns(sid):
    return query("SELECT turn FROM turns WHERE session_id = ? ORDER BY turn", sid)


flags = ["--sessions_db=" + db, "--session_idle_ms=%d" % IDLE_MS, "--commit_interval_ms=200",
         "--instance=sess"]
val = Service("validator", prefix)
ev = Service("evaluator", prefix, *flags)

# A ends explicitly; B just stops.
send([turn("A", 1, "How do I reset my password?", "Open Settings, then Security."),
      turn("B", 1, "What is the capital of France?", "Paris."),
      turn("A", 2, "I did that, it still fails.", "Then use the reset link in the email."),
      turn("B", 2, "And of Spain?", "Madrid."),
      turn("A", 3, "Thanks, that worked.", "Glad to help!", end=True)])
t0 = time.monotonic()
wait_for("session A to be evaluated on session_end", lambda: evaluated("A"), timeout=60)
check(time.monotonic() - t0 < IDLE_MS / 1000.0, "A was evaluated only after the idle time")
check(not evaluated("B"), "B was evaluated before it was idle")
check([t[0] for t in turns("A")] == [1, 2, 3], "A's turns: %s" % turns("A"))
wait_for("session B to be evaluated when idle", lambda: evaluated("B"), timeout=60)
check(time.monotonic() - t0 >= IDLE_MS / 1000.0 - 1, "B evaluated before its idle time")

# C: two turns, a crash, a restart, a third turn.
send([turn("C", 1, "Can you summarise this?", "Sure: it is about cats."),
      turn("C", 2, "Shorter please.", "Cats.")])
wait_for("C's turns to be committed", lambda: len(turns("C")) == 2, timeout=60)
time.sleep(1)  # the offsets commit too (commit_interval_ms): nothing to read again
ev.kill()
check(len(turns("C")) == 2 and not evaluated("C"), "C after the crash")
ev.start()
send([turn("C", 3, "Thanks!", "You are welcome.")])
wait_for("session C to be evaluated", lambda: evaluated("C"), timeout=90)
check([t[0] for t in turns("C")] == [1, 2, 3], "C's turns after the restart: %s" % turns("C"))

# A record read again (its offset not yet committed when the crash came) adds nothing.
check(query("SELECT count(*) FROM turns")[0][0] == 3 + 2 + 3, "turn count")
check(ev.metric("pharos_evaluator_sessions_total") >= 1, "sessions metric")

got = by_record(tail(prefix, "evals"))
for sid, n in (("A", 3), ("B", 2), ("C", 3)):
    names = got.get("session:" + sid, {})
    check("session.turns" in names, "no session.turns for session:%s: %s" % (sid, names))
    for name, es in names.items():
        check(name.startswith("session."), "%s: %s" % (sid, name))
        check(len(es) == 1, "session:%s %s evaluated %d times" % (sid, name, len(es)))
        check(es[0]["session_id"] == sid and es[0]["app"] == "bot", "session:%s: %s" % (sid, es[0]))
    check(names["session.turns"][0]["values"]["turns"] == n, "session:%s turns: %s" % (
        sid, names["session.turns"][0]))
check(ev.stop() == 0, "evaluator exit code:\n" + ev.log())
val.stop()
log("ok")
