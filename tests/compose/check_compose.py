"""Checks compose.yaml (as resolved by `docker-compose config`) against deploy/Dockerfile and
the built binaries. Called by check_compose.sh, which resolves the file first; run that.

What must hold, service by service, for every service built from deploy/Dockerfile:
  - it is built from the repository root with deploy/Dockerfile;
  - its command's program is one the Dockerfile installs, and exists in the build dir;
  - every --key flag of its command appears in that program's --help (for a subcommand such as
    `pharos topics create`, in `pharos --help` or the subcommand's --help);
  - its --brokers name a service of the file, its healthcheck and published port match its
    --http_addr, and the runtime image has the programs its healthcheck calls;
  - its drain deadline (--grace_ms, or the default --help shows) ends before Docker's SIGKILL
    (stop_grace_period, default 10 s), with a little margin.
And for the image: every shared library a binary links directly comes from a Debian package the
runtime stage installs (readelf, ldd, dpkg -S).

Exit status: 0 all good, 1 a mismatch, 77 skipped because no binary is built yet (the static
checks still ran and passed)."""
import argparse
import os
import re
import shlex
import subprocess
import sys

import yaml

SKIP = 77
# Present in every debian:bookworm-slim image: no need for the runtime stage to name them.
BASE_PACKAGES = {"libc6", "libgcc-s1", "zlib1g"}
# A sanitizer build links these; the image is never built that way.
SANITIZER_LIB = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print("ok:   " + what)

    def fail(self, what):
        self.failed += 1
        print("FAIL: " + what)

    def check(self, cond, what):
        (self.ok if cond else self.fail)(what)
        return cond


def run(cmd, timeout=20):
    """Output (stdout and stderr together) of cmd; never raises."""
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)


# ---- deploy/Dockerfile ----------------------------------------------------------------------

def dockerfile_stages(path):
    """[(stage name, [instruction lines with continuations joined])] in file order."""
    stages, lines, cur = [], [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            lines.append(cur + line)
            cur = ""
    for line in lines:
        words = line.split()
        if words[0].upper() == "FROM":
            name = words[3] if len(words) >= 4 and words[2].upper() == "AS" else str(len(stages))
            stages.append((name, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def installed_programs(stages):
    """{program name: path relative to the build dir} the Dockerfile copies out of build/."""
    progs = {}
    for _, lines in stages:
        for line in lines:
            for rel in re.findall(r"(?<![\w/.-])build/([\w./-]+)", line):
                progs[os.path.basename(rel)] = rel
    return progs


def runtime_packages(stages, setup_sh):
    """Debian packages the last stage installs: apt-get install arguments, and the groups of
    deploy/setup.sh it runs (expanded with setup.sh --list-packages)."""
    pkgs = set()
    for line in stages[-1][1]:
        if not line.split()[0].upper() == "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", line[3:]):
            words = shlex.split(cmd)
            if not words:
                continue
            if words[0] in ("apt-get", "apt") and "install" in words:
                pkgs.update(w for w in words[words.index("install") + 1:]
                            if not w.startswith("-"))
            if "setup" in os.path.basename(words[0]):
                for w in words[1:]:
                    if w.startswith("--groups="):
                        rc, out = run(["bash", setup_sh, "--list-packages=" + w.split("=", 1)[1]])
                        if rc != 0:
                            raise SystemExit("setup.sh --list-packages failed:\n" + out)
                        pkgs.update(out.split())
    return pkgs


# ---- the binaries -----------------------------------------------------------------------------

def help_text(binary, subcommands):
    """--help of the program and of its first subcommand (`pharos --help`, `pharos topics
    --help`). Never deeper: `pharos topics create --help` would be one bug away from creating
    topics on whatever broker listens on the default address."""
    texts = []
    for n in range(min(len(subcommands), 1) + 1):
        _, out = run([binary] + subcommands[:n] + ["--help"], timeout=10)
        texts.append(out)
    return "\n".join(texts)


def duration_ms(text):
    """Compose duration (1m30s, 30s, 500ms) in milliseconds, or None."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        return None
    scale = {"h": 3600000, "m": 60000, "s": 1000, "ms": 1, "us": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def grace_check(name, svc, cmd, text, rep):
    """A long-running service must finish draining before Docker kills it."""
    if svc.get("restart") in (None, "no"):
        return  # one-shot jobs such as `pharos topics create`
    grace = flag_value(cmd, "grace_ms")
    if grace is None:
        m = re.search(r"--grace_ms=(\d+)", text)
        grace = m.group(1) if m else None
    if grace is None:
        return  # the program has no drain deadline to respect
    stop_ms = duration_ms(svc.get("stop_grace_period", "10s"))
    rep.check(stop_ms is not None and int(grace) + 2000 <= stop_ms,
              "%s: grace_ms=%s ends at least 2 s before stop_grace_period %s"
              % (name, grace, svc.get("stop_grace_period", "10s (default)")))


def flag_documented(key, text):
    if re.search(r"--" + re.escape(key) + r"(?![\w.-])", text):
        return True
    # kafka.<property> goes straight to librdkafka; --help documents the prefix once.
    return key.startswith("kafka.") and "--kafka.<" in text


def direct_packages(binary):
    """{soname: Debian package or None} for the libraries the binary links directly."""
    rc, dyn = run(["readelf", "-d", binary])
    if rc != 0:
        return None
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    _, ldd = run(["ldd", binary])
    where = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
    result = {}
    for soname in needed:
        path = where.get(soname)
        pkg = None
        if path:
            real = os.path.realpath(path)
            for cand in (path, real, "/usr" + path, "/usr" + real,
                         path[4:] if path.startswith("/usr/") else None):
                if not cand:
                    continue
                rc, out = run(["dpkg", "-S", cand])
                if rc == 0 and out.strip():
                    pkg = out.split(":")[0].strip()
                    break
        result[soname] = pkg
    return result


# ---- the checks ---------------------------------------------------------------------------

def our_services(config, repo, rep):
    ours = {}
    for name, svc in sorted(config.get("services", {}).items()):
        build = svc.get("build")
        if not build:
            continue
        if isinstance(build, str):
            build = {"context": build, "dockerfile": "Dockerfile"}
        context = os.path.realpath(os.path.join(repo, build.get("context", ".")))
        dockerfile = os.path.normpath(build.get("dockerfile", "Dockerfile"))
        good = context == os.path.realpath(repo) and dockerfile == "deploy/Dockerfile"
        rep.check(good, "%s: built from the repository root with deploy/Dockerfile "
                  "(context %s, dockerfile %s)" % (name, context, dockerfile))
        if good:
            ours[name] = svc
    rep.check(bool(ours), "compose.yaml has services built from deploy/Dockerfile")
    return ours


def command_of(svc):
    cmd = svc.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def flag_value(cmd, key):
    for arg in cmd:
        if arg.startswith("--" + key + "="):
            return arg.split("=", 1)[1]
    return None


def static_checks(name, svc, cmd, config, programs, packages, rep):
    """Checks that need no binary: the program is in the image, the wiring is consistent."""
    prog = cmd[0] if cmd else ""
    rep.check(prog in programs, "%s: the image installs its program %r (Dockerfile installs %s)"
              % (name, prog, ", ".join(sorted(programs)) or "nothing"))
    brokers = flag_value(cmd, "brokers")
    if brokers:
        hosts = {b.rsplit(":", 1)[0] for b in brokers.split(",")}
        missing = sorted(h for h in hosts if h not in config.get("services", {}))
        rep.check(not missing, "%s: --brokers=%s names services of compose.yaml" % (name, brokers))
    addr = flag_value(cmd, "http_addr")
    m = re.search(r":(\d+)/?$", addr or "")
    port = m.group(1) if m else None
    test = (svc.get("healthcheck") or {}).get("test") or []
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test and test[0] in ("CMD", "CMD-SHELL"):
        words = test[1:] if test[0] == "CMD" else shlex.split(" ".join(test[1:]))
        if port:
            urls = [w for w in words if w.startswith("http")]
            rep.check(any(re.search(r":%s(/|$)" % port, u) for u in urls),
                      "%s: healthcheck %s probes the --http_addr port %s" % (name, urls, port))
        tool = os.path.basename(words[0]) if words else ""
        if tool not in programs:
            rep.check(tool in packages, "%s: the runtime image installs the healthcheck's %r"
                      % (name, tool))
    for p in svc.get("ports") or []:
        target = str(p.get("target") if isinstance(p, dict) else str(p).split(":")[-1])
        rep.check(port is not None and target.split("/")[0] == port,
                  "%s: published port targets the --http_addr port (%s vs %s)"
                  % (name, target, port))


def binary_checks(name, svc, binary, cmd, rep):
    subcommands = []
    for arg in cmd[1:]:
        if arg.startswith("-"):
            break
        subcommands.append(arg)
    text = help_text(binary, subcommands)
    shown = " ".join(cmd[:1] + subcommands[:1])
    if not rep.check(bool(text.strip()) and "--" in text,
                     "%s: `%s --help` prints its flags" % (name, shown)):
        print(text[-2000:])
        return
    for arg in cmd[1:]:
        if not arg.startswith("--"):
            continue
        key = arg[2:].split("=", 1)[0]
        rep.check(flag_documented(key, text),
                  "%s: --%s is a flag %s documents in --help" % (name, key, cmd[0]))
    grace_check(name, svc, cmd, text, rep)


def library_checks(binaries, packages, rep):
    for prog, binary in sorted(binaries.items()):
        deps = direct_packages(binary)
        if deps is None:
            print("note: readelf not found: shared-library check of %s skipped" % prog)
            continue
        for soname, pkg in sorted(deps.items()):
            if SANITIZER_LIB.match(soname):
                print("note: %s links %s (sanitizer build): not checked" % (prog, soname))
                continue
            if pkg is None:
                rep.fail("%s: %s: no Debian package provides it (dpkg -S)" % (prog, soname))
                continue
            rep.check(pkg in packages or pkg in BASE_PACKAGES,
                      "%s: %s (package %s) is installed by the runtime stage"
                      % (prog, soname, pkg))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="output of docker-compose config")
    ap.add_argument("--repo", required=True)
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    rep = Report()

    with open(args.config) as f:
        config = yaml.safe_load(f)
    stages = dockerfile_stages(os.path.join(args.repo, "deploy/Dockerfile"))
    programs = installed_programs(stages)
    packages = runtime_packages(stages, os.path.join(args.repo, "deploy/setup.sh"))
    rep.check(len(stages) >= 2, "deploy/Dockerfile has a build and a runtime stage")
    rep.check(bool(packages), "the runtime stage installs packages (%d)" % len(packages))

    ours = our_services(config, args.repo, rep)
    binaries, absent = {}, []
    for name, svc in ours.items():
        cmd = command_of(svc)
        if not rep.check(bool(cmd), "%s: has a command" % name):
            continue
        static_checks(name, svc, cmd, config, programs, packages, rep)
        rel = programs.get(cmd[0])
        if not rel:
            continue
        binary = os.path.join(args.build_dir, rel)
        if os.access(binary, os.X_OK):
            binaries[cmd[0]] = binary
            binary_checks(name, svc, binary, cmd, rep)
        else:
            absent.append((name, binary))

    if binaries:
        for name, binary in absent:
            rep.fail("%s: %s is not built (others are: build it, or fix compose.yaml)"
                     % (name, binary))
        library_checks(binaries, packages, rep)

    print("compose: %d passed, %d failed" % (rep.passed, rep.failed))
    if rep.failed:
        return 1
    if not binaries:
        print("SKIP: no binary built in %s yet (%s): the --help and library checks did not run"
              % (args.build_dir, ", ".join(sorted({os.path.relpath(b, args.build_dir)
                                                   for _, b in absent}))))
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main())
