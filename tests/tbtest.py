"""Shared helpers for tributary's end-to-end tests (run with /usr/bin/python3)."""
import json
import sys
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BIN = os.environ.get("TB_BIN", os.path.join(os.path.dirname(__file__), "..", "build", "tributary"))
FIXTURES = os.environ.get("TB_FIXTURES", os.path.join(os.path.dirname(__file__), "fixtures"))
SOURCE_DIR = os.environ.get("TB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
ATOM_RNC = os.path.join(FIXTURES, "atom.rnc")  # RFC 4287's RELAX NG compact schema
# Deadline factor: tests/valgrind-run sets TB_SLOW=10 (memcheck is 20-50x slower).
SLOW = float(os.environ.get("TB_SLOW", "1"))


def sanitized():
    """Whether the tributary binary is built with AddressSanitizer, whose shadow
    memory and quarantine make resident-memory figures meaningless."""
    with open(BIN, "rb") as f:
        return b"__asan_init" in f.read()


def run(*args, stdin=None, check=True, timeout=120):
    """Runs tributary with args; returns CompletedProcess (bytes stdout, text stderr)."""
    p = subprocess.run([BIN, *args], input=stdin, capture_output=True, timeout=timeout * SLOW)
    p.stderr = p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError(f"tributary {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


# A test that cannot run its main check for want of a tool reports skipped
# (unittest.SkipTest, which main() turns into exit 77 for ctest's
# SKIP_RETURN_CODE), never passed; when CI is set it fails instead.
CI = bool(os.environ.get("CI"))


def missing(what):
    """Leaves out the current test for want of `what`: skipped, or failed under CI."""
    if CI:
        raise AssertionError(f"{what}, and CI is set: a skipped check fails in CI")
    raise unittest.SkipTest(what)


def need_tool(name):
    """Skips the current test (fails it under CI) when command `name` is not on PATH."""
    if shutil.which(name) is None:
        missing(f"{name} is not installed")


def need_module(name, package):
    """Imports and returns module `name`; skips (fails under CI) when Debian's
    `package` is not installed."""
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"python module {name} ({package}) is not installed")


def main():
    """unittest.main() for ctest: exit 1 on a failure or error, or when no test
    ran; else 77 (skipped) when any test was skipped (1 under CI); else 0."""
    prog = unittest.main(verbosity=2, exit=False)
    result = prog.result
    if not result.wasSuccessful() or result.testsRun == 0:
        sys.exit(1)
    if result.skipped:
        for test, why in result.skipped:
            print(f"SKIPPED {test.id()}: {why}", file=sys.stderr)
        sys.exit(1 if CI else 77)
    sys.exit(0)


def jing_errors(data):
    """Validates an Atom document against RFC 4287's schema; returns jing's complaints
    ("" when valid). Skips (fails under CI) without jing."""
    if not os.path.exists(ATOM_RNC):
        raise AssertionError(f"{ATOM_RNC} is missing from the repository")
    need_tool("jing")
    with tempfile.NamedTemporaryFile(suffix=".atom") as f:
        f.write(data)
        f.flush()
        # jing reports problems on stdout; its wrapper's jar warnings go to stderr.
        p = subprocess.run(["jing", "-c", ATOM_RNC, f.name], capture_output=True, text=True)
    if p.returncode != 0:
        return p.stdout.strip() or f"jing exited {p.returncode}: {p.stderr.strip()}"
    return ""


def feedparse(data):
    return need_module("feedparser", "python3-feedparser").parse(data)


def mask_feed_updated(data):
    """Blanks the feed-level <updated> (the only part allowed to differ between runs)."""
    text = data.decode("utf-8")
    return re.sub(r"(<feed[^>]*>.*?<updated>)[^<]*(</updated>)", r"\1MASKED\2", text,
                  count=1, flags=re.S)


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="tb-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    """tests/upstream.py serving `root`, started and stopped by the test."""

    def __init__(self, root, log, bind="127.0.0.1"):
        self.root, self.log = root, log
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen([sys.executable, os.path.join(here, "upstream.py"),
                                      "--root", root, "--log", log, "--bind", bind],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        host = f"[{bind}]" if ":" in bind else bind
        self.base = f"http://{host}:{self.port}/"

    def requests(self, prefix=""):
        """Logged requests whose path starts with prefix."""
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        return [r for r in lines if r["path"].startswith(prefix)]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def keep_off_the_internet(config):
    """A config that names no arXiv API gets a loopback one that refuses
    connections: the daemon resolves linked arXiv papers through the API
    (https://export.arxiv.org by default), and no test may reach it."""
    with open(config, encoding="utf-8") as f:
        text = f.read()
    if "arxiv_api" not in text:
        with open(config, "a", encoding="utf-8") as f:
            f.write("\n[trending]\narxiv_api = http://127.0.0.1:9/arxiv-api\n")


class Daemon:
    """`tributary serve -c config`, stderr to a log file, stopped by the test."""

    def __init__(self, config, log):
        self.config, self.log_path = config, log
        keep_off_the_internet(config)
        self.logf = open(log, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "-c", config], stdout=self.logf,
                                     stderr=self.logf)

    def peak_rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=None, timeout=30):
        """Sends SIGTERM (or sig) and returns the exit status."""
        import signal
        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.logf.close()
        return rc

    def log_text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def http_get(url, headers=None, timeout=10):
    """(status, headers, body) of a GET; headers look up case-insensitively. HTTP
    errors are returned, not raised, and a connection that fails gives status 0."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    except (urllib.error.URLError, OSError):
        return 0, {}, b""


def raw_exchange(port, data, timeout=10, host="127.0.0.1"):
    """Sends raw bytes to host:port and returns every byte read until the server
    closes (or timeout s pass, then what came so far). A reset or a refused write
    ends the exchange quietly: a hostile request may be cut off mid-send."""
    return raw_exchange_ended(port, data, timeout, host)[0]


def raw_exchange_ended(port, data, timeout=10, host="127.0.0.1"):
    """raw_exchange(), also saying how the exchange ended: (bytes, "closed") when
    the server closed the connection, "reset" when it reset it, "timeout" when
    timeout s passed with the connection still open."""
    import socket
    import time
    got = bytearray()
    ended = "timeout"
    deadline = time.monotonic() + timeout * SLOW
    with socket.create_connection((host, port), timeout=timeout * SLOW) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                ended = "reset"
                break
            if not chunk:
                ended = "closed"
                break
            got += chunk
    return bytes(got), ended


def wait_for(pred, timeout, step=0.2, what="condition"):
    """Polls pred() until it returns a true value; fails the test after timeout s."""
    import time
    deadline = time.monotonic() + timeout * SLOW
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def sources_json(config):
    return json.loads(run("sources", "-c", config, "--json").stdout)
