#!/usr/bin/python3
"""End-to-end tests of `tributary serve` against tests/upstream.py.

One upstream and one daemon (1 s intervals) are shared by the numbered tests
of DaemonTest, which run in order; both are stopped in tearDownClass, also
after a failure. Waits poll with deadlines, never long fixed sleeps.
"""
import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ATOM = "{http://www.w3.org/2005/Atom}"


def atom(feed_id, entries):
    """An Atom feed; entries are (id, title, updated)."""
    items = "".join(
        f"<entry><id>{i}</id><title>{t}</title><updated>{u}</updated>"
        f"<link href='https://example.org/{i.split(':')[-1]}'/><summary>{t}</summary></entry>"
        for i, t, u in entries)
    return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<id>{feed_id}</id><title>{feed_id}</title><updated>2024-01-05T00:00:00Z</updated>"
            f"{items}</feed>")


FEED_A = [("urn:x:a1", "Entity linking with graphs", "2024-01-01T00:00:00Z"),
          ("urn:x:a2", "Cooking pasta at home", "2024-01-02T00:00:00Z")]
FEED_B = [("urn:x:b1", "Named entity recognition survey", "2024-01-03T00:00:00Z"),
          ("urn:x:b2", "Protein folding dynamics", "2024-01-04T00:00:00Z")]
FEED_C = [("urn:x:c1", "Moved feed entry", "2024-01-05T00:00:00Z")]




class Upstream:
    """tests/upstream.py in a temp dir; `lines()` are its log entries, each
    stamped with the time this process first saw it (polled every 50 ms)."""

    def __init__(self, root):
        self.log = os.path.join(root, "upstream.log")
        self.root = os.path.join(root, "www")
        os.makedirs(self.root)
        self.proc = subprocess.Popen(
            [os.environ.get("PYTHON", "/usr/bin/python3"), os.path.join(HERE, "upstream.py"),
             "--root", self.root, "--log", self.log], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.seen = []
        self.stop_tail = threading.Event()
        self.tail = threading.Thread(target=self._tail, daemon=True)
        self.tail.start()

    def _tail(self):
        pos = 0
        while not self.stop_tail.is_set():
            if os.path.exists(self.log):
                with open(self.log, encoding="utf-8") as f:
                    f.seek(pos)
                    chunk = f.read()
                    done = chunk.rfind("\n") + 1
                    pos += len(chunk[:done].encode("utf-8"))
                    now = time.monotonic()
                    for line in chunk[:done].splitlines():
                        self.seen.append((now, json.loads(line)))
            time.sleep(0.05)

    def lines(self, prefix):
        return [(t, e) for t, e in list(self.seen) if e["path"].startswith(prefix)]

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def write(self, name, text):
        tmp = os.path.join(self.root, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(self.root, name))

    def stop(self):
        self.stop_tail.set()
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()



def titles(body):
    root = ET.fromstring(body)
    return sorted(e.findtext(ATOM + "title") for e in root.iter(ATOM + "entry"))


class DaemonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tb-daemon-")
        cls.up = Upstream(cls.tmp)
        cls.daemon = None
        try:
            cls.up.write("a.atom", atom("urn:feed:a", FEED_A))
            cls.up.write("b.atom", atom("urn:feed:b", FEED_B))
            cls.up.write("c.atom", atom("urn:feed:c", FEED_C))
            cls.port = tbtest.free_port()
            cls.base = f"http://127.0.0.1:{cls.port}/"
            cls.config = os.path.join(cls.tmp, "t.ini")
            cls.write_config()
            cls.stderr = open(os.path.join(cls.tmp, "serve.err"), "w+")
            cls.daemon = subprocess.Popen([tbtest.BIN, "serve", "-c", cls.config],
                                          stderr=cls.stderr)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def write_config(cls, extra=""):
        u = cls.up.url
        text = f"""[tributary]
database = db/t.db
public_dir = pub
listen = 127.0.0.1:{cls.port}
base_url = {cls.base}
timeout = 30s

[source a]
url = {u('/a.atom')}
interval = 1s

[source b]
url = {u('/b.atom')}
interval = 1s

[source moved]
url = {u('/redirect/301?to=/c.atom')}
interval = 1s

[source gone]
url = {u('/status/410')}
interval = 1s

[source busy]
url = {u('/status/503?retry_after=3')}
interval = 1s

[source hang]
url = {u('/hang')}
interval = 1s

[topic ent]
title = Entities
query = entity

[topic cook]
title = Cooking
query = pasta
sources = a
{extra}"""
        with open(cls.config + ".tmp", "w") as f:
            f.write(text)
        os.replace(cls.config + ".tmp", cls.config)

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None and cls.daemon.poll() is None:
            cls.daemon.kill()
            cls.daemon.wait()
        cls.up.stop()
        if getattr(cls, "stderr", None) is not None:
            cls.stderr.close()
        if os.environ.get("TB_KEEP"):
            print("kept", cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def doc(self, path, **kw):
        return tbtest.http_get(self.base + path.lstrip("/"), **kw)

    def topic_titles(self, name):
        try:
            st, _, body = self.doc(f"/topics/{name}.atom")
        except OSError:  # not listening yet
            return None
        return titles(body) if st == 200 else None

    def log_text(self):
        with open(self.stderr.name, encoding="utf-8") as f:
            return f.read()

    def test_01_topic_feeds(self):
        want = sorted(["Entity linking with graphs", "Named entity recognition survey"])
        tbtest.wait_for(lambda: self.topic_titles("ent") == want, 20, step=0.1, what="ent topic")
        self.assertEqual(self.topic_titles("cook"), ["Cooking pasta at home"])
        tbtest.wait_for(lambda: len(titles(self.doc("/all.atom")[2])) == 5, 20, step=0.1, what="all.atom")
        on_disk = open(os.path.join(self.tmp, "pub", "topics", "ent.atom"), "rb").read()
        self.assertEqual(titles(on_disk), want)
        for ext in ("rss", "json"):
            st, h, _ = self.doc(f"/topics/ent.{ext}")
            self.assertEqual(st, 200)
        self.assertEqual(self.doc("/topics/ent.rss")[1]["Content-Type"],
                         "application/rss+xml; charset=utf-8")
        self.assertEqual(self.doc("/topics/ent.json")[1]["Content-Type"],
                         "application/feed+json; charset=utf-8")
        st, h, body = self.doc("/")
        self.assertEqual((st, h["Content-Type"]), (200, "text/html; charset=utf-8"))
        self.assertEqual(self.doc("/index.html")[1]["Content-Type"], "text/html; charset=utf-8")
        self.assertIn(b'<link rel="alternate" type="application/atom+xml" title="Entities (Atom)"'
                      b' href="topics/ent.atom">', body)
        st, h, body = self.doc("/sources.opml")
        self.assertEqual((st, h["Content-Type"]), (200, "text/x-opml; charset=utf-8"))

    def test_02_conditional_poll(self):
        def conditional_304():
            return [e for _, e in self.up.lines("/a.atom")
                    if e["status"] == 304 and "If-None-Match" in e["headers"]]
        tbtest.wait_for(conditional_304, 20, step=0.1, what="a 304 to a conditional GET")

    def test_03_update_in_place(self):
        changed = list(FEED_A)
        changed[0] = ("urn:x:a1", "Entity linking with graphs v2", "2024-02-01T00:00:00Z")
        self.up.write("a.atom", atom("urn:feed:a", changed))
        want = sorted(["Entity linking with graphs v2", "Named entity recognition survey"])
        tbtest.wait_for(lambda: self.topic_titles("ent") == want, 20, step=0.1, what="updated entry")
        db = sqlite3.connect(os.path.join(self.tmp, "db", "t.db"))
        n = db.execute("SELECT count(*) FROM entries").fetchone()[0]
        db.close()
        self.assertEqual(n, 5)

    def test_04_permanent_redirect(self):
        tbtest.wait_for(lambda: len(self.up.lines("/c.atom")) >= 3, 20, step=0.1, what="polls of the new URL")
        self.assertEqual(len(self.up.lines("/redirect/301")), 1)

    def test_05_gone_disables(self):
        tbtest.wait_for(lambda: '"gone"' in tbtest.run(
            "sources", "-c", self.config, "--json").stdout.decode(), 20, step=0.1, what="sources shows gone")
        out = json.loads(tbtest.run("sources", "-c", self.config, "--json").stdout)
        gone = [s for s in out if s["name"] == "gone"][0]
        self.assertFalse(gone["enabled"])
        self.assertEqual((gone["status"], gone["gone"], gone["paused"]), ("gone", True, False))
        self.assertEqual(gone["http_status"], 410)
        time.sleep(2.5)  # two intervals: a disabled source must not be polled again
        self.assertEqual(len(self.up.lines("/status/410")), 1)

    def test_06_retry_after(self):
        hits = tbtest.wait_for(lambda: (lambda h: h if len(h) >= 3 else None)(
                            self.up.lines("/status/503")), 20, step=0.1, what="three polls of the 503 source")
        for (t0, _), (t1, _) in zip(hits, hits[1:]):
            self.assertGreaterEqual(t1 - t0, 2.9, "polled before Retry-After: 3")
        out = json.loads(tbtest.run("sources", "-c", self.config, "--json").stdout)
        busy = [s for s in out if s["name"] == "busy"][0]
        self.assertEqual(busy["last_error"], "HTTP 503")

    def test_07_http_conditional_and_gzip(self):
        st, h, body = self.doc("/topics/ent.atom")
        self.assertEqual(h["Content-Type"], "application/atom+xml; charset=utf-8")
        self.assertIn("max-age", h["Cache-Control"])
        st2, _, _ = self.doc("/topics/ent.atom", headers={"If-None-Match": h["ETag"]})
        self.assertEqual(st2, 304)
        st3, h3, zipped = self.doc("/topics/ent.atom", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(h3["Content-Encoding"], "gzip")
        self.assertEqual(gzip.decompress(zipped), body)
        # Compressed once: the server sends the very bytes of the .gz file
        # beside the published one (a republish in between is retried).
        gz_path = os.path.join(self.tmp, "pub", "topics", "ent.atom.gz")
        for _ in range(5):
            _, _, zipped = self.doc("/topics/ent.atom", headers={"Accept-Encoding": "gzip"})
            with open(gz_path, "rb") as f:
                on_disk = f.read()
            if on_disk == zipped:
                break
            time.sleep(0.2)
        self.assertEqual(on_disk, zipped)
        self.assertEqual(self.doc("/healthz")[0], 200)
        metrics = self.doc("/metrics")[2].decode()
        self.assertIn('tributary_fetches_total{outcome="not_modified"}', metrics)
        self.assertIn("tributary_sources 6", metrics)
        self.assertIn("tributary_sources_gone 1", metrics)  # test_05's
        self.assertIn("tributary_sources_paused 0", metrics)
        # Polls go by leases on SQLite too: this node (default name: host
        # name and port) recorded them.
        self.assertRegex(metrics, r'tributary_node_polls_total\{node="[A-Za-z0-9._-]+:\d+"\} [1-9]')
        self.assertIn('tributary_leases_total{outcome="lost"} 0', metrics)

    def test_08_sighup_backfills_new_topic(self):
        failures, done, count = [], threading.Event(), [0]

        def client():
            while not done.is_set():
                try:
                    st, _, _ = self.doc("/all.atom", timeout=5)
                    if st != 200:
                        failures.append(st)
                except Exception as e:  # a refused or dropped connection
                    failures.append(repr(e))
                count[0] += 1
        th = threading.Thread(target=client)
        th.start()
        try:
            self.write_config("\n[topic proteins]\ntitle = Proteins\nquery = protein\n")
            self.daemon.send_signal(signal.SIGHUP)
            tbtest.wait_for(lambda: self.topic_titles("proteins") == ["Protein folding dynamics"], 20, step=0.1, what="backfilled topic")
            time.sleep(0.3)
        finally:
            done.set()
            th.join()
        self.assertEqual(failures, [])
        self.assertGreater(count[0], 5)
        self.assertIn(b"topics/proteins.atom", self.doc("/")[2])
        # A config with errors is refused and the running one stays.
        with open(self.config, "a") as f:
            f.write("\n[topic broken]\nquery = \"unclosed\n")
        self.daemon.send_signal(signal.SIGHUP)
        tbtest.wait_for(lambda: "reload failed" in self.log_text(), 20, step=0.1, what="reload refused")
        self.assertEqual(self.doc("/topics/proteins.atom")[0], 200)
        self.assertEqual(self.daemon.poll(), None)

    def test_08b_sighup_drops_and_keeps_sources(self):
        """A reload that drops source b stops its polls, while a, kept
        with its timer, goes on polling; b comes back with the next one."""
        proteins = "\n[topic proteins]\ntitle = Proteins\nquery = protein\n"
        self.write_config(proteins)
        with open(self.config, encoding="utf-8") as f:
            text = f.read()
        start = text.index("[source b]")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text[:start] + text[text.index("[source moved]"):])
        reloads = self.log_text().count(" reloaded ")
        self.daemon.send_signal(signal.SIGHUP)
        tbtest.wait_for(lambda: self.log_text().count(" reloaded ") > reloads, 20, step=0.1,
                        what="reload")
        self.assertIn(": 5 sources,", self.log_text().split(" reloaded ")[-1])
        a0, b0 = len(self.up.lines("/a.atom")), len(self.up.lines("/b.atom"))
        tbtest.wait_for(lambda: len(self.up.lines("/a.atom")) >= a0 + 3, 20, step=0.1,
                        what="a polled on")
        # A poll of b that was queued for a connection (the per-host cap is
        # 4 and "hang" holds one) was cancelled with it, and its timer is gone.
        self.assertEqual(len(self.up.lines("/b.atom")) - b0, 0)
        b0 = len(self.up.lines("/b.atom"))
        self.write_config(proteins)
        self.daemon.send_signal(signal.SIGHUP)
        tbtest.wait_for(lambda: len(self.up.lines("/b.atom")) > b0, 20, step=0.1,
                        what="b polled again")
        self.assertIn(": 6 sources,", self.log_text().split(" reloaded ")[-1])
        self.assertEqual(self.daemon.poll(), None)

    def test_09_newsboat(self):
        tbtest.need_tool("newsboat")
        d = os.path.join(self.tmp, "nb")
        os.makedirs(d)
        with open(os.path.join(d, "urls"), "w") as f:
            f.write(self.base + "topics/ent.atom\n")
        open(os.path.join(d, "config"), "w").close()
        cache = os.path.join(d, "cache.db")
        env = dict(os.environ, HOME=d, XDG_CONFIG_HOME=d, XDG_DATA_HOME=d)
        subprocess.run(["newsboat", "-u", os.path.join(d, "urls"), "-c", cache, "-C",
                        os.path.join(d, "config"), "-x", "reload"], env=env, check=True,
                       capture_output=True, timeout=60 * tbtest.SLOW)
        db = sqlite3.connect(cache)
        got = sorted(r[0] for r in db.execute("SELECT title FROM rss_item"))
        db.close()
        self.assertEqual(got, ["Entity linking with graphs v2",
                               "Named entity recognition survey"])

    def test_10_sigterm_during_poll(self):
        tbtest.wait_for(lambda: self.up.lines("/hang"), 20, step=0.1, what="a poll in flight")
        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(20 * tbtest.SLOW), 0)
        db = sqlite3.connect(os.path.join(self.tmp, "db", "t.db"))
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        dups = db.execute("SELECT count(*) FROM (SELECT link FROM entries GROUP BY link"
                          " HAVING count(*) > 1)").fetchone()[0]
        db.close()
        self.assertEqual(dups, 0)
        self.assertIn("shutting down", self.log_text())


if __name__ == "__main__":
    tbtest.main()
