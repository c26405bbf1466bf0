"""pharos-ingestor over real HTTP against a real broker: the answers a client gets for good,
malformed, empty, oversized, duplicate and unauthorised input."""
import json

from harness import Service, check, create_topics, http, log, tail, unique_prefix

prefix = unique_prefix()
create_topics(prefix, partitions=3)
ing = Service("ingestor", prefix, "--max_body_bytes=20000", "--max_record_bytes=5000",
              "--auth_tokens=chat:s3cret,rag:other")
AUTH = {"Authorization": "Bearer s3cret"}
URL = ing.url + "/v1/logs"


def post(body, headers=AUTH, url=URL):
    status, data, hdrs = http("POST", url, body, headers=headers)
    try:
        return status, json.loads(data or b"null"), hdrs
    except ValueError:
        return status, data, hdrs


REC = {"messages": [{"role": "user", "content": "hi"}], "response": "hello", "session_id": "s1"}

# health and metrics
status, body, _ = http("GET", ing.url + "/healthz")
check(status == 200 and json.loads(body)["status"] == "ok", "healthz: %s %s" % (status, body))

# auth
status, body, hdrs = post(json.dumps(REC), headers={})
check(status == 401, "no token -> %s" % status)
status, body, _ = post(json.dumps(REC), headers={"Authorization": "Bearer nope"})
check(status == 401, "bad token -> %s" % status)

# the three shapes
status, body, _ = post(json.dumps(REC))
check(status == 202 and body == {"accepted": 1}, "one object -> %s %s" % (status, body))
status, body, _ = post(json.dumps([REC, REC, dict(REC, record_id="r-3")]))
check(status == 202 and body["accepted"] == 3, "array -> %s %s" % (status, body))
ndjson = "\n".join(json.dumps(dict(REC, record_id="nd-%d" % i)) for i in range(5)) + "\n"
status, body, _ = post(ndjson)
check(status == 202 and body["accepted"] == 5, "ndjson -> %s %s" % (status, body))
# duplicate records are records: both accepted
status, body, _ = post(json.dumps(REC) + "\n" + json.dumps(REC) + "\n")
check(status == 202 and body["accepted"] == 2, "duplicate lines -> %s %s" % (status, body))

# malformed: 400 naming the line and the problem; nothing of the request is published
bad = json.dumps(dict(REC, record_id="never-1")) + "\n" + json.dumps(REC) + "\n{\"messages\": [\n"
status, body, _ = post(bad)
check(status == 400 and body["line"] == 3 and "invalid JSON" in body["error"],
      "bad line 3 -> %s %s" % (status, body))
status, body, _ = post("")
check(status == 400 and "empty" in body["error"], "empty -> %s %s" % (status, body))
status, body, _ = post("   \n  ")
check(status == 400, "blank -> %s %s" % (status, body))
status, body, _ = post("[1, 2]")
check(status == 400 and body["line"] == 1, "array of numbers -> %s %s" % (status, body))
# duplicate keys parse: accepted here, rejected by the validator (duplicate_key) with the bytes
status, body, _ = post('{"response": "a", "response": "b"}')
check(status == 202, "duplicate key -> %s %s" % (status, body))
status, body, _ = post(b'{"response": "\xff\xfe"}')
check(status == 400, "invalid UTF-8 -> %s %s" % (status, body))

# oversized: body over max_body_bytes, record over max_record_bytes
status, body, _ = post("x" * 30000)
check(status == 413, "oversized body -> %s %s" % (status, body))
big = json.dumps(dict(REC, response="y" * 6000))
status, body, _ = post(json.dumps(REC) + "\n" + big + "\n")
check(status == 413 and body.get("line") == 2, "oversized record -> %s %s" % (status, body))

# encodings and routes
status, body, _ = post(json.dumps(REC), headers=dict(AUTH, **{"Content-Encoding": "gzip"}))
check(status == 415, "gzip -> %s" % status)
status, _, _ = http("GET", URL)
check(status == 405, "GET /v1/logs -> %s" % status)
status, _, _ = http("POST", ing.url + "/v1/nothing", "{}")
check(status == 404, "unknown path -> %s" % status)

# feedback: checked here, encoded as Avro
FB = {"record_id": "r-3", "thumbs": "down", "comment": "wrong answer"}
status, body, _ = post(json.dumps(FB), url=ing.url + "/v1/feedback")
check(status == 202 and body["accepted"] == 1, "feedback -> %s %s" % (status, body))
status, body, _ = post(json.dumps({"comment": "no link"}), url=ing.url + "/v1/feedback")
check(status == 400, "feedback without a link -> %s %s" % (status, body))

# what reached Kafka: 1 + 3 + 5 + 2 + 1 log records, nothing lost or added
raw = tail(prefix, "raw")
check(len(raw) == 12, "raw topic holds %d records, expected 12" % len(raw))
check(not any(r.get("record_id") == "never-1" for r in raw), "a refused request leaked a record")
fb = tail(prefix, "feedback")
check(len(fb) == 1 and fb[0]["record_id"] == "r-3" and fb[0]["thumbs"] is False
      and fb[0]["app"] == "chat", "feedback topic: %s" % fb)

accepted = ing.metric("pharos_ingest_records_total", 'endpoint="logs"')
check(accepted == 12, "pharos_ingest_records_total{logs} = %s" % accepted)
check(ing.stop() == 0, "ingestor exit code")

# A producer queue that is full pushes back with 503 + Retry-After before enqueueing anything.
tight = Service("ingestor", prefix, "--max_inflight=1", "--retry_after_s=7")
status, body, hdrs = http("POST", tight.url + "/v1/logs", json.dumps([REC, REC]))
check(status == 503 and hdrs.get("Retry-After") == "7" and "retry" in json.loads(body)["error"],
      "queue full -> %s %s %s" % (status, body, hdrs))
status, body, _ = http("POST", tight.url + "/v1/logs", json.dumps(dict(REC, record_id="fits")))
check(status == 202, "one record fits -> %s %s" % (status, body))
refused = tight.metric("pharos_ingest_records_refused_total")
check(refused == 2, "pharos_ingest_records_refused_total = %s" % refused)
check(tight.stop() == 0, "ingestor exit code")
log("ok")
