#!/usr/bin/python3
"""End-to-end tests of what tributary serves operators and readers:
/metrics after a known set of fetches, /readyz, and /topics.opml.

One upstream (tests/upstream.py) and one daemon are shared by the numbered
tests, which run in order. Source "a" polls every 2 s (200, then 304s, then
200 again once the test changes it); the others poll once an hour, so each
is fetched exactly once: b (200, one entry shared with a), missing (404),
broken (500) and refused (a port nothing listens on).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402


def atom(feed_id, entries):
    """An Atom feed; entries are (id, title, link path)."""
    items = "".join(
        f"<entry><id>{i}</id><title>{t}</title><updated>2024-01-0{n + 1}T00:00:00Z</updated>"
        f"<link href='https://example.org/{p}'/><summary>{t}</summary></entry>"
        for n, (i, t, p) in enumerate(entries))
    return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<id>{feed_id}</id><title>{feed_id}</title><updated>2024-01-05T00:00:00Z</updated>"
            f"{items}</feed>")


FEED_A = [("urn:a:1", "Entity linking with graphs", "shared"),
          ("urn:a:2", "Cooking pasta at home", "pasta")]
FEED_A2 = [FEED_A[0], ("urn:a:2", "Cooking pasta at home, revised", "pasta")]
FEED_B = [("urn:b:1", "Entity linking with graphs (b)", "shared"),
          ("urn:b:2", "Protein folding dynamics", "protein")]

SAMPLE = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$')


def parse_metrics(text):
    """{(name, frozenset of label pairs): float} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


class OpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tbtest.TempDir()
        cls.tmp = cls.tmpdir.__enter__()
        cls.www = os.path.join(cls.tmp, "www")
        os.makedirs(cls.www)
        cls.write("a.atom", atom("urn:feed:a", FEED_A))
        cls.write("b.atom", atom("urn:feed:b", FEED_B))
        cls.up = tbtest.Upstream(cls.www, os.path.join(cls.tmp, "upstream.log"))
        cls.daemon = None
        try:
            cls.port = tbtest.free_port()
            refused = tbtest.free_port()
            cls.base = f"http://127.0.0.1:{cls.port}/"
            cls.db = os.path.join(cls.tmp, "db", "t.db")
            cls.config = os.path.join(cls.tmp, "t.ini")
            u = cls.up.base
            with open(cls.config, "w") as f:
                f.write(f"""[tributary]
database = db/t.db
public_dir = pub
listen = 127.0.0.1:{cls.port}
base_url = {cls.base}
timeout = 30s

[source a]
url = {u}a.atom
interval = 2s

[source b]
url = {u}b.atom
interval = 1h

[source missing]
url = {u}status/404
interval = 1h

[source broken]
url = {u}status/500
interval = 1h

[source refused]
url = http://127.0.0.1:{refused}/feed.atom
interval = 1h

[topic ent]
title = Entities & "graphs" <new>
query = entity

[topic cook]
query = pasta
""")
            cls.daemon = tbtest.Daemon(cls.config, os.path.join(cls.tmp, "serve.log"))
            tbtest.wait_for(lambda: tbtest.http_get(cls.base + "healthz")[0] == 200, 20,
                            what="the daemon listening")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            os.kill(cls.daemon.proc.pid, signal.SIGCONT)
            cls.daemon.stop()
        cls.up.stop()
        cls.tmpdir.__exit__(None, None, None)

    @classmethod
    def write(cls, name, text):
        tmp = os.path.join(cls.www, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(cls.www, name))

    def metrics(self):
        st, h, body = tbtest.http_get(self.base + "metrics")
        self.assertEqual(st, 200)
        self.assertTrue(h["Content-Type"].startswith("text/plain; version=0.0.4"))
        return body.decode("utf-8"), parse_metrics(body.decode("utf-8"))

    def fetched(self, samples, source):
        return {c: value(samples, "tributary_source_fetches_total", source=source, **{"class": c})
                for c in ("2xx", "3xx", "4xx", "5xx", "error")}

    def test_01_metrics_after_known_fetches(self):
        # Every source polled once, and a has answered 304 at least once.
        def settled():
            s = self.metrics()[1]
            once = all(sum(self.fetched(s, n).values()) == 1
                       for n in ("b", "missing", "broken", "refused"))
            return once and self.fetched(s, "a")["3xx"] >= 1
        tbtest.wait_for(settled, 30, what="every source fetched, a answered 304")
        # a changes one of its own entries: the next 200 updates it in place.
        self.write("a.atom", atom("urn:feed:a", FEED_A2))
        tbtest.wait_for(lambda: self.fetched(self.metrics()[1], "a")["2xx"] == 2, 30,
                        what="a fetched again with its change")
        tbtest.wait_for(
            lambda: value(self.metrics()[1], "tributary_entries_stored_total", kind="updated"),
            10, what="the update stored")
        text, s = self.metrics()
        self.assertEqual(self.fetched(s, "b"), {"2xx": 1, "3xx": 0, "4xx": 0, "5xx": 0, "error": 0})
        self.assertEqual(self.fetched(s, "missing")["4xx"], 1)
        self.assertEqual(self.fetched(s, "broken")["5xx"], 1)
        self.assertEqual(self.fetched(s, "refused")["error"], 1)
        a = self.fetched(s, "a")
        self.assertEqual(a["2xx"], 2)
        self.assertGreaterEqual(a["3xx"], 1)
        self.assertEqual(a["4xx"] + a["5xx"] + a["error"], 0)
        # Classes that did not happen are not listed (the output stays small).
        self.assertNotIn('source="b",class="4xx"', text)
        # The histogram counts every fetch: the same snapshot as the counters.
        total = sum(v for (n, _), v in s.items() if n == "tributary_source_fetches_total")
        count = value(s, "tributary_fetch_duration_seconds_count")
        self.assertEqual(count, total)
        self.assertEqual(value(s, "tributary_fetch_duration_seconds_bucket", le="+Inf"), count)
        les = [(float(dict(k)["le"]), v) for (n, k), v in s.items()
               if n == "tributary_fetch_duration_seconds_bucket"]
        les.sort()
        self.assertEqual(len(les), 11)
        self.assertEqual([v for _, v in les], sorted(v for _, v in les))  # cumulative
        self.assertEqual(les[-2][1], count)  # every loopback fetch is under 60 s
        fsum = value(s, "tributary_fetch_duration_seconds_sum")
        self.assertGreater(fsum, 0)
        self.assertLess(fsum, count * 30)
        self.assertEqual(count, value(s, "tributary_fetches_total", outcome="ok")
                         + value(s, "tributary_fetches_total", outcome="not_modified")
                         + value(s, "tributary_fetches_total", outcome="error"))
        # a's two entries and b's protein entry are new; b's copy of a's shared
        # entry (or a's of b's, whichever was stored first) is merged, once.
        self.assertEqual(value(s, "tributary_entries_stored_total", kind="new"), 3)
        self.assertEqual(value(s, "tributary_entries_stored_total", kind="updated"), 1)
        self.assertEqual(value(s, "tributary_entries_stored_total", kind="merged"), 1)
        size = os.path.getsize(self.db)
        if os.path.exists(self.db + "-wal"):
            size += os.path.getsize(self.db + "-wal")
        self.assertGreater(value(s, "tributary_database_bytes"), 0)
        self.assertLessEqual(abs(value(s, "tributary_database_bytes") - size), 1 << 20)
        self.assertEqual(value(s, "tributary_metrics_truncated"), 0)
        self.assertIn("# TYPE tributary_fetch_duration_seconds histogram\n", text)
        self.assertIn("# TYPE tributary_source_fetches_total counter\n", text)

    def readyz(self):
        st, h, body = tbtest.http_get(self.base + "readyz")
        return st, body.decode("utf-8")

    def test_02_readyz(self):
        self.assertEqual(self.readyz(), (200, "ready\n"))
        st, h, _ = tbtest.http_get(self.base + "readyz")
        self.assertEqual(h["Cache-Control"], "no-store")
        self.assertTrue(h["Content-Type"].startswith("text/plain"))
        # The database file moved away under the daemon: not ready, with why.
        os.rename(self.db, self.db + ".away")
        try:
            st, body = self.readyz()
            self.assertEqual(st, 503)
            self.assertIn("database: the file is gone", body)
            self.assertEqual(body.count("\n"), 1)
        finally:
            os.rename(self.db + ".away", self.db)
        self.assertEqual(self.readyz(), (200, "ready\n"))
        # ... or replaced by another file.
        os.rename(self.db, self.db + ".away")
        with open(self.db + ".away", "rb") as src, open(self.db, "wb") as dst:
            dst.write(src.read())
        try:
            st, body = self.readyz()
            self.assertEqual(st, 503)
            self.assertIn("database: the file was replaced", body)
        finally:
            os.replace(self.db + ".away", self.db)
        self.assertEqual(self.readyz(), (200, "ready\n"))

    def test_03_readyz_after_a_stall(self):
        # The daemon is stopped for 6.5 s (its loop cannot run): a request
        # sent meanwhile is answered on resuming, and says the loop stalled.
        pid = self.daemon.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30 * tbtest.SLOW)
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(6.5)
        finally:
            os.kill(pid, signal.SIGCONT)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 503"), got[:200])
        self.assertRegex(got.decode(), r"\r\n\r\nloop: stalled, \d+\.\d s late\n$")
        # A tick or two later the loop is on time again.
        tbtest.wait_for(lambda: self.readyz() == (200, "ready\n"), 10, what="ready again")
        self.assertEqual(tbtest.http_get(self.base + "healthz")[0], 200)

    def opml(self):
        st, h, body = tbtest.http_get(self.base + "topics.opml")
        self.assertEqual(st, 200)
        self.assertEqual(h["Content-Type"], "text/x-opml; charset=utf-8")
        return body

    def test_04_topics_opml(self):
        body = self.opml()
        with open(os.path.join(self.tmp, "pub", "topics.opml"), "rb") as f:
            self.assertEqual(f.read(), body)
        root = ET.fromstring(body)  # well-formed XML
        self.assertEqual(root.tag, "opml")
        self.assertEqual(root.get("version"), "2.0")
        self.assertEqual(root.findtext("head/title"), "tributary topics")
        self.assertTrue(root.findtext("head/dateCreated"))
        outlines = root.findall("body/outline")
        got = [(o.get("type"), o.get("text"), o.get("title"), o.get("xmlUrl"), o.get("htmlUrl"))
               for o in outlines]
        b = self.base
        self.assertEqual(got, [
            ("rss", "All entries", "All entries", b + "all.atom", b),
            ("rss", "Trending", "Trending", b + "trending.atom", b + "trending.html"),
            ("rss", 'Entities & "graphs" <new>', 'Entities & "graphs" <new>',
             b + "topics/ent.atom", b + "topics/ent.html"),
            ("rss", "cook", "cook", b + "topics/cook.atom", b + "topics/cook.html"),
        ])
        # Every feed and page it names is served.
        for _, _, _, xml_url, html_url in got:
            st, h, feed = tbtest.http_get(xml_url)
            self.assertEqual(st, 200, xml_url)
            self.assertEqual(ET.fromstring(feed).tag, "{http://www.w3.org/2005/Atom}feed")
            self.assertEqual(tbtest.http_get(html_url)[0], 200, html_url)
        # The pages link it: in the footer, and for discovery in the head.
        for page in ("", "topics/ent.html", "trending.html"):
            html = tbtest.http_get(b + page)[2].decode("utf-8")
            self.assertRegex(html, r'<a href="(\.\./)?topics\.opml" type="text/x-opml">'
                                   r'Topics \(OPML\)</a>')
            self.assertRegex(html, r'<link rel="outline" type="text/x-opml" '
                                   r'title="Topics \(OPML\)" href="(\.\./)?topics\.opml">')

    def test_05_feedparser_reads_every_topic(self):
        feedparser = tbtest.need_module("feedparser", "python3-feedparser")
        root = ET.fromstring(self.opml())
        for o in root.findall("body/outline"):
            d = feedparser.parse(tbtest.http_get(o.get("xmlUrl"))[2])
            self.assertFalse(d.bozo, (o.get("xmlUrl"), d.get("bozo_exception")))
            self.assertEqual(d.version, "atom10")

    def test_06_newsboat_imports(self):
        tbtest.need_tool("newsboat")
        d = os.path.join(self.tmp, "nb")
        os.makedirs(d)
        path = os.path.join(d, "topics.opml")
        with open(path, "wb") as f:
            f.write(self.opml())
        urls = os.path.join(d, "urls")
        open(urls, "w").close()
        open(os.path.join(d, "config"), "w").close()
        env = dict(os.environ, HOME=d, XDG_CONFIG_HOME=d, XDG_DATA_HOME=d)
        subprocess.run(["newsboat", "-u", urls, "-c", os.path.join(d, "cache.db"), "-C",
                        os.path.join(d, "config"), "-i", path], env=env, check=True,
                       capture_output=True, timeout=60 * tbtest.SLOW)
        with open(urls, encoding="utf-8") as f:
            got = [line.split()[0] for line in f if line.strip() and not line.startswith("#")]
        b = self.base
        self.assertEqual(sorted(got), sorted([b + "all.atom", b + "trending.atom",
                                              b + "topics/ent.atom", b + "topics/cook.atom"]))


if __name__ == "__main__":
    tbtest.main()
