"""The first slice end to end on a real broker: real LLM logs and crafted bad input go in through
the ingestor (HTTP) and straight into Kafka; every record comes out exactly once, in
pharos.logs.valid (with quality warnings) or pharos.logs.invalid (with every reason)."""
import collections
import json
import os
import subprocess

from harness import (BROKERS, Service, check, create_topics, log, pharos, shared_logs,
                     tail_until, unique_prefix, wait_for, write_jsonl)

N_REAL = int(os.environ.get("PHAROS_TEST_RECORDS", "3000"))
prefix = unique_prefix()
create_topics(prefix)
ing = Service("ingestor", prefix, "--auth_tokens=chat:tok")
val = Service("validator", prefix)

real = shared_logs(N_REAL)
keys = collections.Counter()
for line in real:
    r = json.loads(line)
    keys[(r["session_id"], r["turn"])] += 1
check(all(c == 1 for c in keys.values()), "shared data: (session_id, turn) not unique")

USER = [{"role": "user", "content": "What is the capital of France?"}]
crafted_http = [
    # fatal: every reason must be listed
    ({"record_id": "bad-no-output", "messages": USER}, "invalid", {"missing_field"}),
    ({"record_id": "bad-no-input", "response": "Paris."}, "invalid", {"missing_field"}),
    ({"record_id": "bad-empty-output", "messages": USER, "response": ""}, "invalid",
     {"empty_field"}),
    ({"record_id": "bad-types", "messages": "hello", "response": 42}, "invalid",
     {"wrong_type"}),
    ('{"record_id": "bad-dup", "messages": [{"role": "user", "content": "hi"}], '
     '"response": "a", "response": "b"}', "invalid", {"duplicate_key"}),
    # non-fatal: valid with a warning, the bad value dropped
    ({"record_id": "warn-role", "messages": [{"role": "wizard", "content": "hi"}],
      "response": "Hello."}, "valid", {"unknown_role"}),
    ({"record_id": "warn-tokens", "messages": USER, "response": "Paris.",
      "usage": {"input_tokens": -5, "output_tokens": 3}}, "valid", {"negative_value"}),
    ({"record_id": "warn-time", "messages": USER, "response": "Paris.",
      "start_time": "yesterday at noon"}, "valid", {"bad_timestamp"}),
    ({"record_id": "full-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
      "session_id": "sess-full", "user_id": "u-1", "app": "ignored-by-token", "environment": "production",
      "route": "/chat", "model": "gpt-4o-2024-05-13", "provider": "openai",
      "start_time": "2026-11-26T10:00:00.000Z", "end_time": "2026-11-26T10:00:01.250Z",
      "messages": [{"role": "system", "content": "Be brief."}] + USER, "response": "Paris.",
      "finish_reason": "stop", "context": [{"id": "d1", "content": "Paris is the capital of France."}],
      "usage": {"prompt_tokens": 12, "completion_tokens": 2}, "cost": 0.0001,
      "metadata": {"tenant": "acme", "ab": 2}, "tags": ["geo"]}, "valid", set()),
]
kafka_garbage = [
    b"this is not json",
    b'{"messages": [',
    b'{"response": "\xff\xfe broken utf-8", "messages": []}',
    b"\xc3\x01" + bytes(range(16, 40)) + b" not really avro",
]
kafka_valid = {"record_id": "kafka-direct-1", "messages": USER, "response": "Paris.",
               "session_id": "s-kafka"}

# 1. through the ingestor
def text(rec):
    return rec if isinstance(rec, str) else json.dumps(rec)


r = pharos("send", write_jsonl(real + [text(c[0]) for c in crafted_http]),
           "--url=" + ing.url, "--token=tok", "--batch=250", prefix=prefix)
check(b"accepted=%d rejected=0" % (len(real) + len(crafted_http)) in r.stdout,
      "send: %s %s" % (r.stdout, r.stderr[-500:]))
# 2. straight to Kafka, as any client may
path = write_jsonl([])
with open(path, "wb") as f:
    for g in kafka_garbage:
        f.write(g + b"\n")
    f.write(json.dumps(kafka_valid).encode() + b"\n")
r = pharos("send", path, "--kafka", prefix=prefix)
check(b"accepted=5 rejected=0" in r.stdout, "send --kafka: %s" % r.stdout)

total = len(real) + len(crafted_http) + len(kafka_garbage) + 1
wait_for("the validator to judge %d records" % total,
         lambda: val.metric("pharos_validator_records_total") >= total, timeout=300)

got = tail_until(prefix, ["valid", "invalid"], total, "the validator's output (%d records)" % total)
valid, invalid = got["valid"], got["invalid"]
log("valid %d, invalid %d" % (len(valid), len(invalid)))
check(len(valid) + len(invalid) == total,
      "%d + %d records out, %d in" % (len(valid), len(invalid), total))
ids = collections.Counter(r["record_id"] for r in valid + invalid)
dups = [k for k, c in ids.items() if c > 1]
check(not dups, "records delivered twice: %s" % dups[:5])

# real records: all valid, each (session, turn) once, faithfully mapped, app from the token
by_key = {(r["session_id"], r["turn"]): r for r in valid if r.get("session_id")}
for line in real:
    src = json.loads(line)
    out = by_key.get((src["session_id"], src["turn"]))
    check(out is not None, "real record %s/%s lost or rejected" % (src["session_id"], src["turn"]))
    check(out["output"] == src["response"], "response changed for %s" % src["session_id"])
    check([m["content"] for m in out["input_messages"]] == [m["content"] for m in src["messages"]],
          "messages changed for %s" % src["session_id"])
    check(out["app"] == "chat", "app not taken from the token: %s" % out["app"])
    check(out["ingest_source"] == "http", "ingest_source %s" % out["ingest_source"])
    check(out["metadata"].get("source") == src["source"], "source not kept in metadata")

# crafted records: right topic, right codes
where = {r["record_id"]: ("valid", r) for r in valid}
where.update({r["record_id"]: ("invalid", r) for r in invalid})
for rec, topic, codes in crafted_http:
    original = text(rec)
    rec = json.loads(original)
    got_topic, out = where.get(rec["record_id"], (None, None))
    check(got_topic == topic, "%s went to %s, expected %s" % (rec["record_id"], got_topic, topic))
    got = {w["code"] for w in (out["reasons"] if topic == "invalid" else out["quality_warnings"])}
    check(codes <= got, "%s: codes %s, expected %s" % (rec["record_id"], got, codes))
    if topic == "invalid":
        check(out["original"] == original, "%s: original bytes not kept" % rec["record_id"])
types = where["bad-types"][1]["reasons"]
check(len([w for w in types if w["code"] == "wrong_type"]) >= 2,
      "bad-types: every reason must be listed, got %s" % types)
full = where["full-1"][1]
check(full["latency_ms"] == 1250 and full["input_tokens"] == 12 and full["output_tokens"] == 2
      and full["model"] == "gpt-4o-2024-05-13" and full["context"][0]["id"] == "d1"
      and full["metadata"]["tenant"] == "acme" and full["status"] == "OK"
      and full["app"] == "chat", "full record mapped wrongly: %s" % full)

# straight-to-Kafka input: poison routed with reasons, ids derived from topic/partition/offset
direct = [r for r in invalid if r["record_id"].startswith("kafka:")]
check(len(direct) == len(kafka_garbage), "direct garbage: %d invalid" % len(direct))
codes = collections.Counter(r["reasons"][0]["code"] for r in direct)
check(codes["invalid_json"] == 2 and codes["invalid_utf8"] == 1 and codes["avro_undecodable"] == 1,
      "poison codes: %s" % codes)
check(where["kafka-direct-1"][0] == "valid"
      and where["kafka-direct-1"][1]["ingest_source"] == "kafka", "direct valid record")

# An Avro LlmLog produced to the raw topic (here: a copy of a validated one) is accepted too.
avro_file = write_jsonl([])
copy = subprocess.run("kcat -b %s -C -t %spharos.logs.valid -c 1 -e -q -f '%%s' -o beginning > %s"
                      " && kcat -b %s -P -t %spharos.logs.raw -k avro-copy %s" %
                      (BROKERS, prefix, avro_file, BROKERS, prefix, avro_file),
                      shell=True, capture_output=True)
check(copy.returncode == 0, "kcat copy: %s" % copy.stderr)
wait_for("the Avro copy to be judged",
         lambda: val.metric("pharos_validator_records_total") >= total + 1, timeout=120)
valid2 = tail_until(prefix, ["valid"], len(valid) + 1, "the Avro copy's output")["valid"]
check(len(valid2) == len(valid) + 1, "Avro input not validated: %d -> %d" % (len(valid), len(valid2)))

check(val.stop() == 0, "validator exit code:\n" + val.log())
check(ing.stop() == 0, "ingestor exit code:\n" + ing.log())
log("ok")
