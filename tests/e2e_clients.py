#!/usr/bin/python3
"""Hostile clients against `tributary serve`'s HTTP server.

One upstream (a small feed polled every 2 s) and one daemon (request_timeout = 2s
(times TB_SLOW),
max_clients = 300) are shared by the numbered tests, which run in order.
During every attack a normal client keeps fetching /topics/ent.atom and
/healthz on fresh connections; each of its answers must be a complete 200
within BOUND seconds (times TB_SLOW), and the slowest is printed. A canary
file sits beside public_dir: its content must never be served. At the end
the daemon must still answer /healthz and exit 0 on SIGTERM.
"""
import http.client
import os
import re
import resource
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from e2e_daemon import FEED_A, atom  # noqa: E402

BOUND = 1.0          # seconds: the normal client's worst acceptable answer time
REQ_TIMEOUT = round(2 * tbtest.SLOW)  # request_timeout in the daemon's config, seconds
MAX_CLIENTS = 300    # max_clients in the daemon's config
IDLE = 1000          # idle connections opened at once
CANARY = b"CANARY-e2e-clients-7f3a9c"


def rounds(seconds=1.0):
    """Yields round numbers for at least `seconds` (at least once), so that an
    attack lasts long enough for the normal client to be measured during it."""
    end, n = time.monotonic() + seconds, 0
    while n == 0 or time.monotonic() < end:
        yield n
        n += 1


class NormalClient:
    """A thread fetching /topics/ent.atom and /healthz in turn, one fresh
    connection each, until stopped; records every answer's time and failure."""

    def __init__(self, port):
        self.port, self.times, self.failures = port, [], []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def one(self, path):
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * tbtest.SLOW)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            length = r.getheader("Content-Length")
            c.close()
            if r.status != 200 or length is None or int(length) != len(body) or not body:
                self.failures.append(f"{path}: {r.status}, {len(body)} of {length} bytes")
        except (OSError, http.client.HTTPException) as e:
            self.failures.append(f"{path}: {e!r}")
        self.times.append(time.monotonic() - t0)

    def loop(self):
        while not self.done.is_set():
            self.one("/topics/ent.atom")
            self.one("/healthz")
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


class ClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tbtest.TempDir()
        cls.tmp = cls.tmpdir.__enter__()
        cls.daemon = cls.up = None
        try:
            www = os.path.join(cls.tmp, "www")
            os.makedirs(www)
            with open(os.path.join(www, "a.atom"), "w", encoding="utf-8") as f:
                f.write(atom("urn:feed:a", FEED_A))
            cls.up = tbtest.Upstream(www, os.path.join(cls.tmp, "upstream.log"))
            # The canary sits beside public_dir, where a traversal would find it.
            with open(os.path.join(cls.tmp, "canary.txt"), "wb") as f:
                f.write(CANARY)
            cls.port = tbtest.free_port()
            cls.config = os.path.join(cls.tmp, "t.ini")
            with open(cls.config, "w", encoding="utf-8") as f:
                f.write(f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{cls.port}
base_url = http://127.0.0.1:{cls.port}/
request_timeout = {REQ_TIMEOUT}s
max_clients = {MAX_CLIENTS}

[source a]
url = {cls.up.base}a.atom
interval = 2s

[topic ent]
title = Entities
query = entity
""")
            cls.daemon = tbtest.Daemon(cls.config, os.path.join(cls.tmp, "serve.log"))
            tbtest.wait_for(lambda: b"Entity linking" in cls.get("/topics/ent.atom")[2], 20,
                            what="the topic document")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None and cls.daemon.alive():
            cls.daemon.stop()
        if cls.up is not None:
            cls.up.stop()
        if os.environ.get("TB_KEEP"):
            print("kept", cls.tmp, file=sys.stderr)
        else:
            cls.tmpdir.__exit__(None, None, None)

    @classmethod
    def get(cls, path, headers=None):
        return tbtest.http_get(f"http://127.0.0.1:{cls.port}{path}", headers)

    def raw(self, data, timeout=10):
        return tbtest.raw_exchange(self.port, data, timeout)

    def raw_ended(self, data, timeout=10):
        """(answer, how the exchange ended): see tbtest.raw_exchange_ended()."""
        return tbtest.raw_exchange_ended(self.port, data, timeout)

    def check_normal(self, nc, what):
        """The normal client was served throughout: no failure, every answer in BOUND."""
        self.assertEqual(nc.failures, [], what)
        self.assertGreater(len(nc.times), 2, what)
        slowest = max(nc.times)
        print(f"{what}: {len(nc.times)} answers to the normal client, slowest {slowest:.3f} s",
              file=sys.stderr)
        self.assertLess(slowest, BOUND * tbtest.SLOW, what)

    def metric(self, name):
        text = self.get("/metrics")[2].decode()
        m = re.search(rf"^{name} (\d+)$", text, re.M)
        return int(m.group(1))

    def assert_refused(self, exchange, what, allowed=(400, 404, 405, 413, 414, 431, 505),
                       need_status=False):
        """A refused bad request: an error status from `allowed`, or (unless
        need_status) no answer at all with the connection closed or reset by the
        server, as h2o does past its head limits. An empty answer on a
        connection still open when the client gave up is no refusal: the server
        may simply not have answered yet."""
        answer, ended = exchange
        self.assertNotIn(CANARY, answer, what)
        if answer or need_status:
            m = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
            self.assertIsNotNone(m, f"{what}: {answer[:80]!r}")
            self.assertIn(int(m.group(1)), allowed, f"{what}: {answer[:80]!r}")
        else:
            self.assertIn(ended, ("closed", "reset"), f"{what}: no answer, connection {ended}")
        if os.environ.get("TB_DEBUG_REFUSED"):
            print(f"refused {what!r}: {answer[:12]!r} {ended}", file=sys.stderr)

    def test_00_empty_answer_is_no_refusal(self):
        """assert_refused() itself: silence on an open connection, or a connection
        closed without the status a test needs, is not taken for a refusal; a
        real HTTP server's answer to a request that does not end is silence."""
        for exchange, kw in (((b"", "timeout"), {}), ((b"", "closed"), {"need_status": True}),
                             ((b"HTTP/1.1 200 OK\r\n\r\n", "closed"), {})):
            with self.assertRaises(AssertionError, msg=repr((exchange, kw))):
                self.assert_refused(exchange, "self-test", **kw)
        self.assert_refused((b"", "reset"), "self-test")
        self.assert_refused((b"HTTP/1.1 400 Bad Request\r\n\r\n", "closed"), "self-test")
        # An unfinished head gets no answer before the deadline: not a refusal.
        ans = self.raw_ended(b"GET /healthz HTTP/1.1\r\nHost: x\r\n", timeout=0.3)
        with self.assertRaises(AssertionError):
            self.assert_refused(ans, "unfinished head")

    def test_01_oversized_request_line(self):
        with NormalClient(self.port) as nc:
            for _ in rounds():
                ans = self.raw_ended(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assert_refused(ans, "100 KB URL")
        self.check_normal(nc, "100 KB request line")

    def test_02_oversized_header(self):
        with NormalClient(self.port) as nc:
            for _ in rounds():
                ans = self.raw_ended(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20)
                               + b"\r\n\r\n")
                self.assert_refused(ans, "1 MB header")
        self.check_normal(nc, "1 MB header")

    def test_03_thousands_of_headers(self):
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
        with NormalClient(self.port) as nc:
            for _ in rounds():
                ans = self.raw_ended(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
                self.assert_refused(ans, "5000 headers")
        self.check_normal(nc, "5000 headers")

    def test_04_slowloris(self):
        """Five clients send a header byte a second; each is cut by the request deadline."""
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100
        socks = [socket.create_connection(("127.0.0.1", self.port)) for _ in range(5)]
        t0, closed_after, sent = time.monotonic(), {}, 0
        limit = REQ_TIMEOUT + 3 * tbtest.SLOW
        with NormalClient(self.port) as nc:
            while len(closed_after) < len(socks) and time.monotonic() - t0 < limit:
                for s in socks:
                    if s.fileno() not in closed_after and sent < len(head):
                        try:
                            s.send(head[sent:sent + 1])
                        except OSError:
                            closed_after[s.fileno()] = time.monotonic() - t0
                sent += 1
                readable, _, _ = select.select(
                    [s for s in socks if s.fileno() not in closed_after], [], [], 1.0)
                for s in readable:
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    self.assertNotIn(b"200 OK", data)
                    if not data:
                        closed_after[s.fileno()] = time.monotonic() - t0
        for s in socks:
            s.close()
        print(f"slowloris: closed after {sorted(round(v, 1) for v in closed_after.values())} s",
              file=sys.stderr)
        self.assertEqual(len(closed_after), len(socks), "slow clients still open")
        self.assertLess(max(closed_after.values()), limit)
        self.check_normal(nc, "slowloris")

    def test_05_idle_connections(self):
        """1000 idle connections against max_clients = 300: the cap holds (the
        oldest idle ones are closed) and the normal client still gets in."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < IDLE + 200:
            if hard != resource.RLIM_INFINITY and hard < IDLE + 200:
                tbtest.missing(f"RLIMIT_NOFILE hard limit {hard} is too low for {IDLE} clients")
            resource.setrlimit(resource.RLIMIT_NOFILE, (IDLE + 200, hard))
        evicted0 = self.metric("tributary_http_connections_evicted_total")
        socks = []
        try:
            with NormalClient(self.port) as nc:
                for _ in range(IDLE):
                    socks.append(socket.create_connection(("127.0.0.1", self.port)))
                # Evicted connections are closed on the server's next loop turns.
                tbtest.wait_for(lambda: self.metric("tributary_http_connections") <= MAX_CLIENTS,
                                30, step=0.05, what="connections back under the cap")
                evicted = self.metric("tributary_http_connections_evicted_total") - evicted0
                still_open = sum(1 for s in socks if not self.closed_by_server(s))
                time.sleep(0.5)
        finally:
            for s in socks:
                s.close()
        print(f"idle: {still_open} of {IDLE} still open, {evicted} evicted", file=sys.stderr)
        # The normal client's and /metrics' connections took a few places too.
        self.assertLessEqual(still_open, MAX_CLIENTS)
        self.assertGreater(still_open, MAX_CLIENTS - 20)
        self.assertGreaterEqual(evicted, IDLE - MAX_CLIENTS)
        self.check_normal(nc, "1000 idle connections")

    @staticmethod
    def closed_by_server(s):
        readable, _, _ = select.select([s], [], [], 0)
        if not readable:
            return False
        try:
            return s.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def test_06_pipelining(self):
        paths = ["/healthz", "/topics/ent.atom", "/nope", "/all.atom", "/healthz"] * 2
        reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths[:-1])
        reqs += b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % paths[-1].encode()
        with NormalClient(self.port) as nc:
            for _ in rounds():
                self.check_pipelined(self.raw(reqs), paths)
        self.check_normal(nc, "pipelining")

    def check_pipelined(self, ans, paths):
        got = []
        while ans:
            head, _, rest = ans.partition(b"\r\n\r\n")
            status = int(head[9:12])
            n = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
            got.append((status, len(rest) >= n))
            ans = rest[n:]
        want = [(404 if p == "/nope" else 200, True) for p in paths]
        self.assertEqual(got, want)

    def test_07_malformed(self):
        bad = [
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200), "TLS hello"),
            (os.urandom(4096), "random bytes"),
            (b"GARBAGE\r\n\r\n", "garbage"),
            (b"GET /healthz\r\nHost: x\r\n\r\n", "no HTTP version"),
            (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/9.9"),
            (b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", "header without colon"),
            (b"GET /healthz HTTP/1.1\r\n: empty-name\r\n\r\n", "empty header name"),
            (b"GET /healthz HTTP/1.1\r\nX\x00Y: z\r\n\r\n", "NUL in a header name"),
            (b"GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n", "NUL in the path"),
            (b"GET /healthz HTTP/1.1\r\nHost: x\x00y\r\n\r\n", "NUL in a header value"),
            (b"BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "unknown method"),
            (b"DELETE /topics/ent.atom HTTP/1.1\r\nHost: x\r\n\r\n", "DELETE"),
            (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "POST"),
            (b"G\xffT /healthz HTTP/1.1\r\n\r\n", "non-ASCII method"),
            (b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "negative length"),
            (b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk"),
            (b"\r\n" * 5000, "empty lines"),
        ]
        with NormalClient(self.port) as nc:
            for data, what in bad:
                self.assert_refused(self.raw_ended(data, timeout=REQ_TIMEOUT + 3), what)
        self.assertEqual(self.get("/healthz")[0], 200)
        self.check_normal(nc, "malformed requests")

    def test_08_path_traversal(self):
        paths = [b"/../canary.txt", b"/..%2fcanary.txt", b"/%2e%2e/canary.txt",
                 b"/%2e%2e%2fcanary.txt", b"//etc/passwd", b"/topics/../../etc/passwd",
                 b"/topics/../../canary.txt", b"/topics/..%2f..%2fcanary.txt",
                 b"/canary.txt%00.atom", b"/topics/ent.atom%00", b"/..\\canary.txt",
                 b"/topics\\..\\..\\canary.txt", b"/%5c..%5ccanary.txt", b"/.%2e/canary.txt",
                 b"/pub/../canary.txt", b"/../../../../../../etc/passwd", b"/canary.txt",
                 b"/%252e%252e/canary.txt", b"/..;/canary.txt", b"/topics/%2e%2e/%2e%2e/t.db"]
        with NormalClient(self.port) as nc:
            for p, _ in ((p, r) for r in rounds() for p in paths):
                for method in (b"GET", b"HEAD"):
                    ans, ended = self.raw_ended(method + b" " + p + b" HTTP/1.1\r\nHost: x\r\n"
                                                b"Connection: close\r\n\r\n")
                    self.assertNotIn(CANARY, ans, p)
                    self.assertNotIn(b"root:", ans, p)
                    self.assertNotIn(b"SQLite format", ans, p)
                    self.assert_refused((ans, ended), p.decode(), allowed=(400, 404),
                                        need_status=True)
        self.check_normal(nc, "path traversal")

    def test_09_head_get_consistency(self):
        for path in ("/", "/topics/ent.atom", "/all.atom", "/sources.opml", "/healthz",
                     "/nope"):
            for enc in ("identity", "gzip"):
                heads = {}
                for method in ("GET", "HEAD"):
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    c.request(method, path, headers={"Accept-Encoding": enc})
                    r = c.getresponse()
                    body = r.read()
                    c.close()
                    keep = ("Content-Length", "Content-Type", "ETag", "Last-Modified",
                            "Content-Encoding", "Cache-Control", "Vary")
                    heads[method] = (r.status, {k: r.getheader(k) for k in keep})
                    if method == "GET":
                        self.assertEqual(len(body), int(r.getheader("Content-Length")))
                    else:
                        self.assertEqual(body, b"")
                self.assertEqual(heads["GET"], heads["HEAD"], f"{path} {enc}")

    def test_99_still_alive_and_clean_exit(self):
        self.assertTrue(self.daemon.alive())
        self.assertEqual(self.get("/healthz")[0], 200)
        st, _, body = self.get("/topics/ent.atom")
        self.assertEqual(st, 200)
        self.assertIn(b"Entity linking", body)
        self.assertEqual(self.daemon.stop(), 0)
        self.assertNotIn("AddressSanitizer", self.daemon.log_text())


if __name__ == "__main__":
    tbtest.main()
