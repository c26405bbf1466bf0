#!/usr/bin/env python3
"""An OpenAI-compatible test server for lib/judge: the tests (lib/judge/test_judge_*.c) and the
benchmark (bench/judge_bench.c). Python standard library only.

Serves POST /v1/chat/completions and POST /v1/embeddings, one thread per connection (HTTP/1.1
keep-alive), so hundreds of requests can be in flight. What a request gets is chosen by a marker
anywhere in its text, [[judge:item;item;...]], else by the defaults set with POST /control:

  id=KEY             counter key of the marker (default: the whole marker text)
  malformed          a verdict that is not JSON
  malformed_first=N  the first N requests with this id get a malformed verdict, later ones a good one
  fenced             the verdict inside a ```json fence, with prose around it
  range              a score outside the declared range
  score=X  label=L   the verdict's score and label (default: 3/4 up the declared range, the first
                     declared label)
  pii                a reason quoting an e-mail address, a phone number and a card number
  fail=N  code=C     the first N requests with this id get HTTP C (default 500), later ones succeed
  after=S            with fail: a Retry-After of S seconds; after_date=S: the same as an HTTP date
  hang               never answer (the connection is held for up to 60 s)
  delay=MS           answer after MS milliseconds
  nousage            no usage object
  tokens=N           usage.total_tokens = N (split 9:1 between prompt and completion)

GET /stats   {"requests", "chat", "embeddings", "ids": {id: count}, "inflight", "max_inflight"}
POST /control  {"delay_ms": MS, "marker": "item;item"}: defaults for requests without a marker
POST /reset  zeroes the counters

Usage: judge_server.py [--port N] [--delay-ms MS]. Port 0 (the default) picks a free port; the
server prints "PORT <n>" on stdout once it listens.
"""

import argparse
import json
import re
import socket
import sys
import threading
import time
import zlib
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = re.compile(r"\[\[judge:([^\]]*)\]\]")
RANGE = re.compile(r"number from (-?[0-9.e+]+) to (-?[0-9.e+]+)")
LABELS = re.compile(r'<one of ((?:"[^"]+"(?:, )?)+)>')
WORD = re.compile(r"[a-z0-9]+")


class State:
    def __init__(self, delay_ms):
        self.lock = threading.Lock()
        self.delay_ms = delay_ms
        self.default_marker = ""
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = self.chat = self.embeddings = 0
            self.ids = {}
            self.inflight = self.max_inflight = 0

    def begin(self, kind, key):
        with self.lock:
            self.requests += 1
            if kind == "chat":
                self.chat += 1
            else:
                self.embeddings += 1
            self.ids[key] = self.ids.get(key, 0) + 1
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            return self.ids[key]

    def end(self):
        with self.lock:
            self.inflight -= 1

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "chat": self.chat,
                    "embeddings": self.embeddings, "ids": dict(self.ids),
                    "inflight": self.inflight, "max_inflight": self.max_inflight}


STATE = None


def parse_marker(text):
    """The items of the first marker in text (else the default marker) as a dict."""
    m = MARKER.search(text)
    raw = m.group(1) if m else STATE.default_marker
    items = {}
    for item in filter(None, (s.strip() for s in raw.split(";"))):
        key, _, value = item.partition("=")
        items[key] = value if _ else True
    items.setdefault("id", raw)
    return items


def verdict_text(items, system, count):
    lo, hi = 0.0, 1.0
    r = RANGE.search(system)
    if r:
        lo, hi = float(r.group(1)), float(r.group(2))
    labels = re.findall(r'"([^"]+)"', LABELS.search(system).group(1)) if LABELS.search(system) else []
    if "malformed" in items or count <= int(items.get("malformed_first", 0)):
        return "I think this response is quite good, maybe a four out of five."
    score = float(items["score"]) if "score" in items else lo + 0.75 * (hi - lo)
    if "range" in items:
        score = hi + 10
    reason = "The response addresses the request."
    if "pii" in items:
        reason = ("The user, jane.doe@example.com, gave her phone +1 (555) 123-4567 "
                  "and card 4111 1111 1111 1111.")
    verdict = {"score": score, "label": items.get("label", labels[0] if labels else "ok"),
               "reason": reason}
    text = json.dumps(verdict)
    if "fenced" in items:
        text = "Here is my evaluation:\n```json\n" + text + "\n```\nHope this helps {not json}."
    return text


def usage(items, prompt_chars, completion_chars):
    if "nousage" in items:
        return None
    if "tokens" in items:
        total = int(items["tokens"])
        return {"prompt_tokens": total * 9 // 10, "completion_tokens": total - total * 9 // 10,
                "total_tokens": total}
    p, c = max(1, prompt_chars // 4), max(1, completion_chars // 4)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def embed(text):
    """A deterministic bag-of-words vector: texts sharing words are similar."""
    v = [0.0] * 64
    for w in WORD.findall(text.lower()):
        v[zlib.crc32(w.encode()) % 64] += 1.0
    if not any(v):
        v[0] = 1.0
    return v


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle holds the second until
        # the client's delayed ACK, adding up to 40 ms to every reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/stats":
            self.reply(200, STATE.stats())
        elif self.path == "/healthz":
            self.reply(200, {"ok": True})
        else:
            self.reply(404, {"error": {"type": "not_found", "code": "not_found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        try:
            req = json.loads(raw) if raw else {}
        except ValueError:
            self.reply(400, {"error": {"type": "invalid_request_error", "code": "bad_json"}})
            return
        if self.path == "/control":
            STATE.delay_ms = int(req.get("delay_ms", STATE.delay_ms))
            STATE.default_marker = req.get("marker", STATE.default_marker)
            self.reply(200, {"ok": True})
        elif self.path == "/reset":
            STATE.reset()
            self.reply(200, {"ok": True})
        elif self.path in ("/v1/chat/completions", "/v1/embeddings"):
            self.model_call(req, "chat" if "chat" in self.path else "embeddings")
        else:
            self.reply(404, {"error": {"type": "not_found", "code": "not_found"}})

    def model_call(self, req, kind):
        if kind == "chat":
            messages = req.get("messages", [])
            text = "\n".join(str(m.get("content", "")) for m in messages)
            system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
        else:
            inputs = req.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            text = "\n".join(inputs)
        items = parse_marker(text)
        count = STATE.begin(kind, items["id"])
        try:
            delay = int(items.get("delay", STATE.delay_ms))
            if "hang" in items:
                time.sleep(60)
                self.close_connection = True
                return
            if delay:
                time.sleep(delay / 1000.0)
            if count <= int(items.get("fail", 0)):
                headers = []
                if "after" in items:
                    headers.append(("Retry-After", items["after"]))
                elif "after_date" in items:
                    headers.append(("Retry-After", formatdate(time.time() + int(items["after_date"]),
                                                              usegmt=True)))
                code = int(items.get("code", 500))
                self.reply(code, {"error": {"message": "injected failure", "type": "server_error",
                                            "code": "injected_%d" % code}}, headers)
                return
            if kind == "chat":
                content = verdict_text(items, system, count)
                out = {"id": "chatcmpl-test", "object": "chat.completion",
                       "model": req.get("model", ""),
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content}}]}
                u = usage(items, len(text), len(content))
            else:
                out = {"object": "list", "model": req.get("model", ""),
                       "data": [{"object": "embedding", "index": i, "embedding": embed(t)}
                                for i, t in enumerate(inputs)]}
                u = usage(items, len(text), 0)
                if u:
                    u["completion_tokens"] = 0
                    u["total_tokens"] = u["prompt_tokens"]
            if u:
                out["usage"] = u
            self.reply(200, out)
        finally:
            STATE.end()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the default 5 drops connects when hundreds arrive at once


def main():
    global STATE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--delay-ms", type=int, default=0)
    args = ap.parse_args()
    STATE = State(args.delay_ms)
    server = Server((args.host, args.port), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
