"""pharos-aggregator end to end on a real broker: known logs (each sent twice), invalid records,
evaluations by the real evaluator (so duplicated too) and feedback go in through the pipeline;
the JSON API must then give exactly the numbers computed here from the inputs and from what
Kafka holds (counts exact, percentiles within the sketch's 1 % bound), MetricWindows must be
published for the closed windows, and the dashboard must show them in headless Chromium.

The records are placed three hours in the past, spread over ten minutes, so their windows are
closed (the watermark passed them) and their numbers can no longer move."""
import json
import math
import os
import subprocess
import time

from harness import (SOURCE, Service, check, create_topics, http, kcat_produce, log, pharos,
                     shared_logs, tail, tail_until, unique_prefix, wait_for, write_json,
                     write_jsonl)

N = 120
APPS = ["support", "search", "agent"]
MODELS = ["m-a", "m-b"]
prefix = unique_prefix()
create_topics(prefix, partitions=4)
db = "/tmp/%saggregator.db" % prefix
T0 = (int(time.time() * 1000) // 3600000 - 3) * 3600000

# ---- input --------------------------------------------------------------------------------------
texts = [json.loads(line) for line in shared_logs(N)]
logs = []
for i in range(N):
    r = {"record_id": "agg-%d" % i, "session_id": "agg-s%d" % (i // 3),
         "app": APPS[i % 3], "model": MODELS[i % 2],
         "environment": "staging" if i % 4 == 0 else "production",
         "messages": texts[i]["messages"], "response": texts[i].get("response") or "ok",
         "start_time": T0 + (i % 10) * 60000 + 1000 * (i % 7),
         "latency_ms": 100 + 7 * i, "input_tokens": i, "output_tokens": 2 * i,
         "cost_usd": round(0.001 * i, 6),
         "metadata": {"ttr": str(i % 17), "deflected": "true" if i % 5 == 0 else "false"}}
    if i % 10 == 3:
        r["status"] = "error"
        r["error"] = {"type": "timeout", "message": "upstream timed out"}
    logs.append(r)
bad = [{"record_id": "agg-bad-%d" % i, "app": "support", "model": "m-a", "messages": "not a list",
        "response": 42} for i in range(4)]
bad.append({"record_id": "agg-bad-empty", "app": "search", "messages": [], "response": ""})
path = write_jsonl(logs + bad)
evaluators = write_json({"evaluators": {"text_stats": {}, "refusal": {}, "pii": {}}})

feedback = []
for i in range(12):
    f = {"feedback_id": "agg-fb-%d" % i, "record_id": "agg-%d" % i, "app": APPS[i % 3],
         "time": T0 + 60000 * (i % 10) + 500}
    if i % 3 == 0:
        f["source"] = "reviewer"
        f["label"] = "hallucination" if i % 2 == 0 else "good"
        f["score"] = 0.25 * (i % 4)
    else:
        f["thumbs"] = "up" if i % 2 == 0 else "down"
    feedback.append(f)

# ---- the pipeline ---------------------------------------------------------------------------------
ing = Service("ingestor", prefix)
val = Service("validator", prefix)
ev = Service("evaluator", prefix, "--evaluators=" + evaluators, "--instance=agg")
agg = Service("aggregator", prefix, "--db=" + db, "--kpis=ttr=ttr:number,deflected=deflected:bool")
for _ in range(2):  # every record twice: the aggregator must count it once
    pharos("send", path, "--kafka", prefix=prefix)
fb_body = "\n".join(json.dumps(f) for f in feedback + feedback)
status, body, _ = http("POST", ing.url + "/v1/feedback", fb_body,
                       {"Content-Type": "application/x-ndjson"})
check(status == 202, "feedback: %s %s" % (status, body))

wait_for("the validator", lambda: val.metric("pharos_validator_records_total") >= 2 * (N + len(bad)),
         timeout=300)
wait_for("the evaluator", lambda: ev.metric("pharos_evaluator_records_total") >= 2 * N,
         timeout=300)
got = tail_until(prefix, ["valid", "invalid"], 2 * (N + len(bad)), "the validator's output")
valid, invalid = got["valid"], got["invalid"]
evals = tail(prefix, "evals")
fbs = tail(prefix, "feedback")
check(len(valid) == 2 * N and len(invalid) == 2 * len(bad), "pipeline: %d valid, %d invalid"
      % (len(valid), len(invalid)))
check(len(fbs) == 2 * len(feedback), "feedback in Kafka: %d" % len(fbs))
total_in = len(valid) + len(invalid) + len(evals) + len(fbs)
# Messages that are not records of their topic (a foreign producer: garbage, an unknown schema
# fingerprint, a truncated Avro body, a huge one): skipped and counted, never a crash or a stall.
poison = [b"not avro at all", b"\xc3\x01" + b"\x00" * 8 + b"unknown fingerprint",
          b"\xc3\x01" + b"\xff" * 20, b"\xc3\x01" + b"\x7f" * 200000]
kcat_produce(prefix + "pharos.evals", poison)
kcat_produce(prefix + "pharos.feedback", poison[:2])  # the evaluator reads logs.valid: not there
wait_for("the aggregator to read everything",
         lambda: agg.metric("pharos_aggregator_events_total") >= total_in and
         agg.metric("pharos_aggregator_poison_total") >= 6, timeout=300)
check(agg.metric("pharos_aggregator_poison_total") == 6,
      "poison messages counted: %s" % agg.metric("pharos_aggregator_poison_total"))


def api(path):
    status, body, _ = http("GET", agg.url + path)
    check(status == 200, "GET %s: %s %s" % (path, status, body[:500]))
    return json.loads(body)


FROM, TO = T0 - 3600000, int(time.time() * 1000) + 3600000
rng = "from=%d&to=%d" % (FROM, TO)
wait_for("the store to commit everything",
         lambda: api("/api/v1/summary?" + rng)["totals"].get("requests") == N, timeout=60)
totals = api("/api/v1/summary?" + rng)["totals"]


def near(got, want, rel=0.0101, what=""):
    check(got is not None and abs(got - want) <= rel * abs(want) + 1e-9,
          "%s: got %s, want %s (within %g)" % (what, got, want, rel))


def exact(got, want, what):
    check(got == want, "%s: got %s, want %s" % (what, got, want))


def quantile(values, q):
    s = sorted(values)
    return s[int(math.floor(q * (len(s) - 1)))]


# system health
lat = [r["latency_ms"] for r in logs]
exact(totals.get("requests"), N, "requests")
exact(totals.get("errors"), sum(1 for r in logs if r.get("status") == "error"), "errors")
near(totals.get("error_rate"), sum(1 for r in logs if r.get("status") == "error") / N, 1e-9,
     "error_rate")
exact(totals.get("tokens_in"), sum(r["input_tokens"] for r in logs), "tokens_in")
exact(totals.get("tokens_out"), sum(r["output_tokens"] for r in logs), "tokens_out")
near(totals.get("cost_usd"), sum(r["cost_usd"] for r in logs), 1e-9, "cost_usd")
near(totals.get("latency_max_ms"), max(lat), 1e-9, "latency_max_ms")
for q, name in [(0.5, "p50"), (0.9, "p90"), (0.95, "p95"), (0.99, "p99")]:
    near(totals.get("latency_%s_ms" % name), quantile(lat, q), 0.0101, "latency_" + name)

# business KPIs
ttr = [float(r["metadata"]["ttr"]) for r in logs]
exact(totals.get("kpi.ttr.count"), N, "kpi.ttr.count")
near(totals.get("kpi.ttr.mean"), sum(ttr) / N, 1e-9, "kpi.ttr.mean")
near(totals.get("kpi.deflected.rate"), sum(1 for r in logs if r["metadata"]["deflected"] == "true")
     / N, 1e-9, "kpi.deflected.rate")

# input quality: one per invalid record however often it came, +1 per reason
exact(totals.get("invalid"), len(bad), "invalid")
reasons = {}
seen = set()
for r in invalid:
    if r["record_id"] in seen:
        continue
    seen.add(r["record_id"])
    for code in [x["code"] for x in r["reasons"]]:
        reasons[code] = reasons.get(code, 0) + 1
for code, n in reasons.items():
    exact(totals.get("invalid." + code), n, "invalid." + code)
near(totals.get("invalid_rate"), len(bad) / (N + len(bad)), 1e-9, "invalid_rate")

# evaluations: once per (record, evaluator, version)
uniq = {}
for e in evals:
    uniq[(e["record_id"], e["evaluator"], e["evaluator_version"])] = e
check(len(evals) > len(uniq), "the evaluations were not duplicated: the test proves nothing")
by_name = {}
for e in uniq.values():
    by_name.setdefault(e["evaluator"], []).append(e)
for name, es in by_name.items():
    exact(totals.get("eval.%s.count" % name), len(es), "eval.%s.count" % name)
    scored = [e["score"] for e in es if e["status"] == "OK" and e["score"] is not None]
    if scored:
        near(totals.get("eval.%s.mean_score" % name), sum(scored) / len(scored), 1e-9,
             "eval.%s.mean_score" % name)
    judged = [e["passed"] for e in es if e["status"] == "OK" and e["passed"] is not None]
    if judged:
        near(totals.get("eval.%s.pass_rate" % name), sum(judged) / len(judged), 1e-9,
             "eval.%s.pass_rate" % name)
    labels = {}
    for e in es:
        if e["status"] == "OK" and e["label"]:
            labels[e["label"]] = labels.get(e["label"], 0) + 1
    for label, n in labels.items():
        exact(totals.get("eval.%s.label.%s" % (name, label)), n, "eval.%s.label.%s" % (name, label))

# feedback
exact(totals.get("feedback.count"), len(feedback), "feedback.count")
thumbs = [f["thumbs"] == "up" for f in feedback if "thumbs" in f]
near(totals.get("feedback.positive_rate"), sum(thumbs) / len(thumbs), 1e-9,
     "feedback.positive_rate")
scores = [f["score"] for f in feedback if "score" in f]
near(totals.get("feedback.mean_score"), sum(scores) / len(scores), 1e-9, "feedback.mean_score")
exact(totals.get("feedback.label.hallucination"),
      sum(1 for f in feedback if f.get("label") == "hallucination"), "feedback.label")

# the dimensions the summary lists
summary = api("/api/v1/summary?" + rng)
exact(sorted(summary["dimensions"]["app"]), sorted(APPS), "summary apps")
exact(sorted(summary["dimensions"]["model"]), sorted(MODELS), "summary models")
check(set(by_name) <= set(summary["evaluators"]), "summary evaluators: %s" % summary["evaluators"])

# ---- series: per minute, per app; a filter; an hour step -----------------------------------------
series = api("/api/v1/metrics?from=%d&to=%d&step=1m&group_by=app&metrics=requests,latency_max_ms"
             % (T0, T0 + 600000))
got = {}
for s in series["series"]:
    for p in s["points"]:
        got[(s["group"]["app"], p["t"])] = p.get("requests")
want = {}
for r in logs:
    k = (r["app"], r["start_time"] // 60000 * 60000)
    want[k] = want.get(k, 0) + 1
exact(got, want, "requests per app and minute")

one = api("/api/v1/metrics?%s&step=1h&app=search&environment=production" % rng)
pts = [p for s in one["series"] for p in s["points"]]
exact(one["level"], "1h", "level of a 1h step")
exact(sum(p.get("requests", 0) for p in pts),
      sum(1 for r in logs if r["app"] == "search" and r["environment"] == "production"),
      "requests of search in production")

status, body, _ = http("GET", agg.url + "/api/v1/metrics?step=7q")
check(status == 400 and b"step" in body, "a bad step: %s %s" % (status, body))
status, body, _ = http("GET", agg.url + "/api/v1/metrics?colour=blue")
check(status == 400 and b"colour" in body, "an unknown parameter: %s %s" % (status, body))

# ---- MetricWindows of the closed windows -------------------------------------------------------
def all_traffic_minutes():
    out = {}
    for w in tail(prefix, "metrics"):
        if w["granularity"] == "1m" and w["app"] is None and w["environment"] is None and \
                w["model"] is None and T0 <= w["window_start"] < T0 + 600000:
            out[w["window_start"]] = max(out.get(w["window_start"], 0),
                                         w["metrics"].get("requests", 0))
    return out


per_minute = {}
for r in logs:
    k = r["start_time"] // 60000 * 60000
    per_minute[k] = per_minute.get(k, 0) + 1
wait_for("MetricWindows of the first closed minutes",
         lambda: all(all_traffic_minutes().get(k) == v for k, v in per_minute.items()
                     ), timeout=120, interval=1)

# ---- the dashboard in headless Chromium --------------------------------------------------------
status, body, _ = http("GET", agg.url + "/")
check(status == 200 and b"<html" in body.lower(), "GET /: %s" % status)
driver = os.path.join(SOURCE, "tests/browser/dashboard.test.mjs")
if os.path.exists(driver):
    expect = write_json({"scenarios": [
        {"query": "from=%d&to=%d" % (T0, T0 + 600000),
         "tiles": {"requests": N},
         "charts": [{"chart": "volume", "series": "requests",
                     "points": [{"t": k, "value": v} for k, v in sorted(per_minute.items())]}]},
        {"query": "from=%d&to=%d&app=support" % (T0, T0 + 600000),
         "tiles": {"requests": sum(1 for r in logs if r["app"] == "support")}},
    ]})
    shot = os.path.join(os.environ.get("PHAROS_BUILD_DIR", "/tmp"), "dashboard.png")
    r = subprocess.run(["node", driver, "--url=" + agg.url, "--expect=" + expect,
                        "--screenshot=" + shot], capture_output=True, timeout=300)
    check(r.returncode == 0, "dashboard test:\n%s\n%s" % (r.stdout.decode()[-4000:],
                                                         r.stderr.decode()[-4000:]))
    log("dashboard screenshot: %s" % shot)

exact(agg.stop(), 0, "aggregator exit code")
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.remove(db + suffix)
log("ok")
