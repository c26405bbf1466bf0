#!/usr/bin/env python3
"""A throwaway stand-in for pharos-aggregator's HTTP API: a development aid ONLY.

It serves services/aggregator/web/ at / and answers /api/v1/metrics and /api/v1/summary
(docs/api.md) from a dozen fixed records, so the dashboard and its browser test
(dashboard.test.mjs) can be developed and checked without the C service. It is not the
aggregator and not its specification: percentiles here are exact nearest-rank values, not
sketches, and group_by is not supported. The real browser test runs against the real
aggregator; tests/browser/fixture_expect.json matches this file's data only.

    python3 tests/browser/fake_api.py [--port=0] [--port-file=PATH] [--live]

--live adds a week of made-up traffic up to now (a record every 2 minutes), to look at dense
charts in the default "last hour" view; fixture_expect.json assumes it is off.

Prints "listening on http://127.0.0.1:PORT" once ready (port 0 picks a free one).
Standard library only.
"""

import argparse
import json
import math
import mimetypes
import os
import sys
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "services",
                       "aggregator", "web")
MINUTE = 60_000
T0 = 1795687200000  # 2026-11-26T10:00:00Z (docs/api.md's example epoch is 09:00Z)
STEPS = {"1m": MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE, "1h": 60 * MINUTE,
         "6h": 360 * MINUTE, "1d": 1440 * MINUTE}

# Valid log records: minute after T0, dimensions, outcome and what was measured on them.
RECORDS = [
    dict(m=0, app="support-bot", env="production", model="gpt-4o", ok=True, lat=100,
         tin=50, tout=20, cost=0.01, lag=2.0,
         evals=[("refusal", 1.0, True, "complied"), ("json", 0.9, True, None)],
         feedback=(5, True), kpi={"resolved": True, "csat": 4.0}, judge=(0.002, 300)),
    dict(m=0, app="support-bot", env="production", model="gpt-4o", ok=True, lat=200,
         tin=60, tout=30, cost=0.02, lag=3.0, warnings=["truncated"],
         evals=[("refusal", 0.0, False, "refused"), ("json", 0.5, False, None)],
         feedback=(2, False), kpi={"resolved": False, "csat": 2.0}),
    dict(m=0, app="search", env="staging", model="llama-3-70b", ok=False, lat=1000,
         tin=10, tout=0, cost=0.0, lag=5.0, warnings=["empty_output"],
         evals=[("json", 0.0, False, None)]),
    dict(m=0, app="support-bot", env="production", model="gpt-4o", ok=True, lat=300,
         tin=40, tout=25, cost=0.015, lag=4.0,
         evals=[("refusal", 1.0, True, "complied")], kpi={"resolved": True, "csat": 5.0}),
    dict(m=5, app="support-bot", env="staging", model="gpt-4o", ok=True, lat=400,
         tin=80, tout=40, cost=0.03, lag=6.0,
         evals=[("refusal", 1.0, True, "complied"), ("json", 1.0, True, None)],
         feedback=(4, True), judge=(0.003, 450)),
    dict(m=5, app="search", env="production", model="llama-3-70b", ok=True, lat=150,
         tin=30, tout=15, cost=0.005, lag=1.0, evals=[("json", 1.0, True, None)]),
    dict(m=30, app="search", env="staging", model="llama-3-70b", ok=False, lat=2500,
         tin=20, tout=0, cost=0.0, lag=9.0),
]
# Invalid records: minute, app, reason code.
INVALID = [(0, "support-bot", "missing_field"), (5, "search", "bad_timestamp"),
           (5, "support-bot", "missing_field")]


def add_live_traffic(now_ms):
    """A week of pseudo-random records up to now, every 2 minutes (same every run)."""
    import random
    rng = random.Random(42)
    start = (now_ms - 7 * 1440 * MINUTE) // MINUTE * MINUTE
    for t in range(start, now_ms, 2 * MINUTE):
        ok = rng.random() > 0.05
        label = "refused" if rng.random() < 0.1 else "complied"
        RECORDS.append(dict(
            m=(t - T0) // MINUTE, app=rng.choice(["support-bot", "search"]),
            env=rng.choice(["production", "staging"]), model=rng.choice(["gpt-4o", "llama-3-70b"]),
            ok=ok, lat=round(rng.lognormvariate(6, 0.5), 1), tin=rng.randint(20, 400),
            tout=rng.randint(10, 300), cost=round(rng.random() / 100, 5), lag=round(rng.expovariate(0.3), 2),
            evals=[("refusal", 1.0 if label == "complied" else 0.0, label == "complied", label)],
            kpi={"resolved": rng.random() < 0.7}))
        if rng.random() < 0.03:
            INVALID.append(((t - T0) // MINUTE, "search", rng.choice(["missing_field", "bad_json"])))


def percentile(values, p):
    """Nearest rank: the smallest value with at least p of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def aggregate(records, invalid):
    """The metrics of docs/api.md for a set of records; rates are left out without traffic."""
    out = {}
    n = len(records)
    if n:
        errors = sum(1 for r in records if not r["ok"])
        lat = [r["lat"] for r in records]
        out.update(requests=n, errors=errors, error_rate=errors / n,
                   latency_mean_ms=sum(lat) / n, latency_max_ms=max(lat),
                   tokens_in=sum(r["tin"] for r in records),
                   tokens_out=sum(r["tout"] for r in records),
                   cost_usd=round(sum(r["cost"] for r in records), 10))
        for p in (50, 90, 95, 99):
            out[f"latency_p{p}_ms"] = percentile(lat, p / 100)
        lag = [r["lag"] for r in records]
        out.update(lag_p50_s=percentile(lag, 0.5), lag_p90_s=percentile(lag, 0.9),
                   lag_p99_s=percentile(lag, 0.99), lag_max_s=max(lag))
    if n or invalid:
        out["invalid"] = len(invalid)
        out["invalid_rate"] = len(invalid) / (n + len(invalid))
        for _, _, reason in invalid:
            out[f"invalid.{reason}"] = out.get(f"invalid.{reason}", 0) + 1
    for r in records:
        for kind in r.get("warnings", []):
            out[f"warnings.{kind}"] = out.get(f"warnings.{kind}", 0) + 1
    evals = {}
    for r in records:
        for name, score, passed, label in r.get("evals", []):
            evals.setdefault(name, []).append((score, passed, label))
    for name, results in evals.items():
        p = f"eval.{name}."
        out[p + "count"] = len(results)
        out[p + "errors"] = 0
        out[p + "skipped"] = 0
        out[p + "mean_score"] = sum(x[0] for x in results) / len(results)
        out[p + "pass_rate"] = sum(1 for x in results if x[1]) / len(results)
        for _, _, label in results:
            if label:
                out[p + "label." + label] = out.get(p + "label." + label, 0) + 1
    feedback = [r["feedback"] for r in records if "feedback" in r]
    if feedback:
        out["feedback.count"] = len(feedback)
        out["feedback.positive_rate"] = sum(1 for f in feedback if f[1]) / len(feedback)
        out["feedback.mean_score"] = sum(f[0] for f in feedback) / len(feedback)
    resolved = [r["kpi"]["resolved"] for r in records if "resolved" in r.get("kpi", {})]
    if resolved:
        out["kpi.resolved.count"] = len(resolved)
        out["kpi.resolved.rate"] = sum(resolved) / len(resolved)
    csat = [r["kpi"]["csat"] for r in records if "csat" in r.get("kpi", {})]
    if csat:
        out["kpi.csat.count"] = len(csat)
        out["kpi.csat.mean"] = sum(csat) / len(csat)
        for p in (50, 90, 99):
            out[f"kpi.csat.p{p}"] = percentile(csat, p / 100)
        out["kpi.csat.max"] = max(csat)
    judged = [r["judge"] for r in records if "judge" in r]
    if judged:
        out["judge_cost_usd"] = round(sum(j[0] for j in judged), 10)
        out["judge_tokens"] = sum(j[1] for j in judged)
    return out


class BadParam(Exception):
    pass


def parse_time(name, value):
    if value.isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise BadParam(f"bad parameter '{name}': not RFC 3339 or epoch milliseconds") from None


def select(query):
    """The records and invalid records that pass the query's range and filters."""
    q = {k: v[-1] for k, v in query.items()}
    to = parse_time("to", q["to"]) if "to" in q else T0 + 60 * MINUTE
    frm = parse_time("from", q["from"]) if "from" in q else to - 60 * MINUTE
    if frm >= to:
        raise BadParam("bad parameter 'from': not before 'to'")
    want = {d: q[d] for d in ("app", "environment", "model") if q.get(d)}

    def keep(t, dims):
        return frm <= t < to and all(dims.get(d, "-") == v for d, v in want.items())

    recs = [r for r in RECORDS
            if keep(T0 + r["m"] * MINUTE, {"app": r["app"], "environment": r["env"],
                                           "model": r["model"]})]
    inv = [i for i in INVALID if keep(T0 + i[0] * MINUTE, {"app": i[1]})]
    return q, frm, to, recs, inv


def only_metrics(metrics, spec):
    if not spec:
        return metrics
    names = spec.split(",")
    return {k: v for k, v in metrics.items()
            if any(k == n or (n.endswith("*") and k.startswith(n[:-1])) for n in names)}


def metrics_answer(query):
    q, frm, to, recs, inv = select(query)
    step = q.get("step")
    if step is None:
        step_ms = next(ms for ms in STEPS.values() if (to - frm) / ms <= 300)
    elif step in STEPS:
        step_ms = STEPS[step]
    elif step.isdigit() and int(step) > 0:
        step_ms = int(step)
    else:
        raise BadParam(f"bad parameter 'step': '{step}' is not one of 1m, 5m, 15m, 1h, 6h, 1d")
    buckets = {}
    for r in recs:
        t = (T0 + r["m"] * MINUTE) // step_ms * step_ms
        buckets.setdefault(t, ([], []))[0].append(r)
    for i in inv:
        t = (T0 + i[0] * MINUTE) // step_ms * step_ms
        buckets.setdefault(t, ([], []))[1].append(i)
    points = []
    for t in sorted(buckets):
        point = {"t": t}
        point.update(only_metrics(aggregate(*buckets[t]), q.get("metrics")))
        points.append(point)
    return {"from": frm, "to": to, "step_ms": step_ms, "level": "1m",
            "series": [{"group": {}, "points": points}]}


def summary_answer(query):
    q, frm, to, recs, inv = select(query)
    return {
        "from": frm, "to": to,
        "totals": only_metrics(aggregate(recs, inv), q.get("metrics")),
        "dimensions": {
            "app": sorted({r["app"] for r in recs} | {i[1] for i in inv}),
            "environment": sorted({r["env"] for r in recs}),
            "model": sorted({r["model"] for r in recs}),
        },
        "evaluators": sorted({e[0] for r in recs for e in r.get("evals", [])}),
        "alerts": [],
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet: the test prints what matters
        pass

    def send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, obj):
        self.send(status, json.dumps(obj).encode(), "application/json")

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        try:
            if url.path == "/api/v1/metrics":
                return self.send_json(200, metrics_answer(query))
            if url.path == "/api/v1/summary":
                return self.send_json(200, summary_answer(query))
        except BadParam as e:
            return self.send_json(400, {"error": str(e)})
        if url.path.startswith("/api/"):
            return self.send_json(404, {"error": f"no such path: {url.path}"})
        name = "index.html" if url.path == "/" else url.path.lstrip("/")
        path = os.path.join(WEB_DIR, name)
        if "/" in name or not os.path.isfile(path):
            return self.send(404, b"not found\n", "text/plain")
        with open(path, "rb") as f:
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self.send(200, f.read(), ctype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--live", action="store_true", help="add a week of made-up traffic up to now")
    args = ap.parse_args()
    if args.live:
        add_live_traffic(int(datetime.now().timestamp() * 1000))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(f"{port}\n")
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
