"""Test harness for Pharos integration and system tests (Python 3 standard library only).

Starts the real services as processes against a real Kafka broker, talks HTTP to them, and reads
topics back through `pharos tail` (so the CLI is exercised too). Every test uses its own topic
prefix, so runs never collide on a shared broker.

Environment (set by tests/CMakeLists.txt):
  PHAROS_BUILD_DIR    the CMake build tree (binaries)
  PHAROS_SOURCE_DIR   the repository
  PHAROS_DATA_DIR     shared real data (default ../shared/data beside the repository)
  PHAROS_TEST_BROKERS bootstrap servers of the broker the fixture started
"""
import json
import os
import random
import re
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import atexit

BUILD = os.environ.get("PHAROS_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("PHAROS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
DATA = os.environ.get("PHAROS_DATA_DIR") or os.path.join(SOURCE, "..", "shared", "data")
BROKERS = os.environ.get("PHAROS_TEST_BROKERS", "127.0.0.1:39092")

BIN = {
    "ingestor": os.path.join(BUILD, "services/ingestor/pharos-ingestor"),
    "validator": os.path.join(BUILD, "services/validator/pharos-validator"),
    "evaluator": os.path.join(BUILD, "services/evaluator/pharos-evaluator"),
    "aggregator": os.path.join(BUILD, "services/aggregator/pharos-aggregator"),
    "pharos": os.path.join(BUILD, "cli/pharos"),
}


def log(*args):
    print("[%s]" % time.strftime("%H:%M:%S"), *args, flush=True)


def fail(msg):
    log("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def unique_prefix():
    tag = "".join(random.choice(string.ascii_lowercase) for _ in range(6))
    return "t%d%s." % (os.getpid(), tag)


def wait_for(what, fn, timeout=120.0, interval=0.2):
    """Polls fn() until it returns a truthy value; fails the test after timeout (not a timing
    assertion: the bound only keeps a broken run from hanging)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(interval)


_services = []


@atexit.register
def _kill_leftovers():
    """A failed test exits early: never leave its services running."""
    for svc in _services:
        if svc.proc and svc.proc.poll() is None:
            svc.proc.kill()
            svc.proc.wait()


class Service:
    """A Pharos service process. Its stderr goes to a log file; the HTTP port is read from the
    'started' log line, so services can bind port 0."""

    def __init__(self, name, prefix, *flags, env=None, brokers=None):
        self.name = name
        self.logfile = tempfile.NamedTemporaryFile(
            prefix="pharos-%s-" % name, suffix=".log", delete=False, mode="w+")
        args = [BIN[name], "--brokers=" + (brokers or BROKERS), "--topic_prefix=" + prefix,
                "--http_addr=http://127.0.0.1:0", "--log_level=info"] + list(flags)
        e = dict(os.environ)
        e.update(env or {})
        self.args = args
        self.env = e
        self.proc = None
        self.port = None
        _services.append(self)
        self.start()

    def start(self):
        self.logfile.seek(0, os.SEEK_END)
        start_pos = self.logfile.tell()
        self.proc = subprocess.Popen(self.args, stdout=self.logfile, stderr=self.logfile,
                                     env=self.env)

        def started():
            if self.proc.poll() is not None:
                fail("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log()))
            with open(self.logfile.name) as f:
                f.seek(start_pos)
                m = re.search(r"started; HTTP on port (\d+)", f.read())
            return int(m.group(1)) if m else None

        self.port = wait_for(self.name + " to start", started, timeout=90)
        log("%s started on port %d (pid %d)" % (self.name, self.port, self.proc.pid))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def log(self):
        with open(self.logfile.name) as f:
            return f.read()[-6000:]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        log("%s killed with SIGKILL" % self.name)

    def stop(self, timeout=60):
        """SIGTERM and wait: the service drains. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("%s did not stop within %ss:\n%s" % (self.name, timeout, self.log()))
        return self.proc.returncode

    def metric(self, name, labels=None):
        """Value of one Prometheus sample from GET /metrics (0 when absent)."""
        status, body, _ = http("GET", self.url + "/metrics")
        check(status == 200, "GET /metrics: %s" % status)
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if m and m.group(1) == name and (labels is None or labels in (m.group(2) or "")):
                total += float(m.group(3))
        return total


def http(method, url, body=None, headers=None, timeout=120):
    """Returns (status, body bytes, headers dict)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def pharos(*args, prefix="", brokers=None, check_rc=True, input=None, timeout=600):
    cmd = [BIN["pharos"], "--brokers=" + (brokers or BROKERS), "--topic_prefix=" + prefix] + \
        list(args)
    r = subprocess.run(cmd, capture_output=True, input=input, timeout=timeout)
    if check_rc and r.returncode != 0:
        fail("%s -> %d\nstdout: %s\nstderr: %s" % (" ".join(cmd), r.returncode,
                                                   r.stdout[-3000:], r.stderr[-3000:]))
    return r


def create_topics(prefix, partitions=12, brokers=None):
    pharos("topics", "create", "--partitions=%d" % partitions, prefix=prefix, brokers=brokers)


def tail(prefix, topic, brokers=None):
    """Every committed record of a topic, decoded, as a list of dicts."""
    r = pharos("tail", topic, "--from_beginning", "--until_end", prefix=prefix, brokers=brokers)
    return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]


def tail_until(prefix, topics, n, what, timeout=60):
    """The committed records of topics (a list; a dict per topic) once they hold at least n in
    all. A service counts a record when it produced it; a read_committed reader sees it only
    when the transaction commits, up to a commit interval later."""
    out = {}

    def enough():
        for t in topics:
            out[t] = tail(prefix, t)
        return sum(len(v) for v in out.values()) >= n

    wait_for(what, enough, timeout=timeout, interval=1)
    return out


def shared_logs(n=None, start=0):
    path = os.path.join(DATA, "llm_logs.jsonl")
    out = []
    with open(path) as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            if n is not None and len(out) >= n:
                break
            out.append(line.rstrip("\n"))
    return out


def write_jsonl(lines):
    f = tempfile.NamedTemporaryFile(prefix="pharos-", suffix=".jsonl", delete=False, mode="w")
    for line in lines:
        f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    f.close()
    return f.name


def exactly_once(expected_ids, valid, invalid):
    """Every expected record id appears exactly once across valid + invalid, and nothing else."""
    seen = {}
    for r in valid:
        seen.setdefault(r["record_id"], []).append("valid")
    for r in invalid:
        seen.setdefault(r["record_id"], []).append("invalid")
    dup = {k: v for k, v in seen.items() if len(v) > 1}
    missing = set(expected_ids) - set(seen)
    extra = set(seen) - set(expected_ids)
    check(not dup, "%d records delivered more than once, e.g. %s" % (len(dup), list(dup.items())[:3]))
    check(not missing, "%d records lost, e.g. %s" % (len(missing), sorted(missing)[:5]))
    check(not extra, "%d unexpected records, e.g. %s" % (len(extra), sorted(extra)[:5]))


# ---- evaluator helpers ------------------------------------------------------------------------

EVALUATION_FIELDS = ["record_id", "session_id", "trace_id", "app", "environment", "model",
                     "evaluator", "evaluator_version", "status", "score", "label", "passed",
                     "explanation", "values", "record_time", "ingest_time", "eval_time",
                     "cost_usd", "tokens"]


def write_json(obj):
    f = tempfile.NamedTemporaryFile(prefix="pharos-", suffix=".json", delete=False, mode="w")
    json.dump(obj, f)
    f.close()
    return f.name


def evaluator_listing(evaluators=None):
    """`pharos eval --list`: [(variant, name, kind, version)] of an evaluator config file (or of
    the default set)."""
    args = ["eval", "--list"] + (["--evaluators=" + evaluators] if evaluators else [])
    out = pharos(*args).stdout.decode().splitlines()
    return [tuple(line.split()[:4]) for line in out[1:] if line.strip()]


def offline_eval(path, evaluators=None, check_rc=True):
    """`pharos eval FILE`: (list of Evaluation dicts, stderr text)."""
    args = ["eval", path] + (["--evaluators=" + evaluators] if evaluators else [])
    r = pharos(*args, check_rc=check_rc)
    lines = r.stdout.decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()], r.stderr.decode()


def kcat_produce(topic, messages, brokers=None):
    """Produces raw messages (bytes, keyed "poison-<i>") straight into a topic with kcat, as a
    foreign client could."""
    for i, m in enumerate(messages):
        r = subprocess.run(["kcat", "-P", "-b", brokers or BROKERS, "-t", topic,
                            "-k", "poison-%d" % i], input=m, capture_output=True, timeout=60)
        check(r.returncode == 0, "kcat -P: %s" % r.stderr[-500:])


def kcat_keys(topic, brokers=None):
    """The keys of every record of a topic (read_committed)."""
    r = subprocess.run(["kcat", "-C", "-b", brokers or BROKERS, "-t", topic, "-e", "-q",
                        "-X", "isolation.level=read_committed", "-f", "%k\\n"],
                       capture_output=True, timeout=300)
    check(r.returncode == 0, "kcat -C: %s" % r.stderr[-500:])
    return r.stdout.decode(errors="replace").splitlines()


def by_record(evals):
    """{record_id: {evaluator: [evaluation, ...]}}."""
    out = {}
    for e in evals:
        out.setdefault(e["record_id"], {}).setdefault(e["evaluator"], []).append(e)
    return out


def same_result(a, b):
    """Two Evaluations of the same record and evaluator say the same (times aside)."""
    keys = ["evaluator_version", "status", "score", "label", "passed", "values", "session_id"]
    return all(a.get(k) == b.get(k) for k in keys)
