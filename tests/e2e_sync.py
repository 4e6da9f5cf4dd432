#!/usr/bin/python3
"""Issue 13 item 3, fourth point: two `tributary serve` nodes on one
PostgreSQL 15 (tests/pgserver.py), same config but listen and public_dir,
over a local upstream. What a third process stores in the database (a
`tributary fetch` with the same config: new entries and an updated one)
reaches both nodes through the change feed (LISTEN/NOTIFY), and they
re-render it; once both have caught up, every document (all.*, topics/*,
trending*, the HTML pages, the archive pages, the OPML files) is
byte-identical on both, with the same ETag and the same Last-Modified (the
moment the database records for those bytes), and a request conditional
on one node's Last-Modified is answered 304 by the other. Then node B's listening
connection is killed on the server (pg_terminate_backend): B connects
again and catches up with what was stored meanwhile, well before its
30-second safety timer. Then a source that failed comes back without
any entry changing (only its poll state moves, recorded by the third
process): both nodes render again the pages that say why a list is empty
(topics/zebra.html), and they say the same. Last, a third node started
seconds later serves the same documents with the same Last-Modified."""
import email.utils
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
from pgserver import psql  # noqa: E402
import tbtest  # noqa: E402
from tbtest import Daemon, TempDir, Upstream, free_port, http_get, run, wait_for  # noqa: E402

NOW = int(time.time())
DOCS = ["all.atom", "all.rss", "all.json", "topics/walrus.atom", "topics/walrus.rss",
        "topics/walrus.json", "topics/walrus.html", "trending.atom", "trending.rss",
        "trending.json", "trending/walrus.atom", "trending.html", "index.html", "sources.opml",
        "topics.opml", "archive/1.atom", "archive/1.html", "topics/walrus/archive/1.atom",
        "topics/walrus/archive/1.json", "topics/zebra.html"]
FAILED = b"failed at their last poll"


def rss(name, items):
    body = "".join(f"""<item><title>{t}</title><link>http://example.org/{k}</link>
<guid>http://example.org/{k}</guid><description>{d}</description>
<pubDate>{email.utils.formatdate(NOW - 7200 + i * 60, usegmt=True)}</pubDate></item>
""" for i, (k, t, d) in enumerate(items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title><link>http://example.org/{name}</link>"
            f"<description>{name}</description>{body}</channel></rss>\n")


def write(root, n, revised=False):
    walrus = [(f"w{i}", f"Walrus note {i}", f"About walrus number {i}.") for i in range(1, n + 1)]
    if revised:
        walrus[0] = ("w1", "Walrus note 1, revised", "Revised walrus.")
    other = [(f"o{i}", f"Otter note {i}", "Otters, not walruses.") for i in range(1, 4)]
    with open(os.path.join(root, "a.rss"), "w", encoding="utf-8") as f:
        f.write(rss("Walrus blog", walrus))
    with open(os.path.join(root, "b.rss"), "w", encoding="utf-8") as f:
        f.write(rss("Otter blog", other + walrus[:2]))


def config(tmp, name, database, base, port):
    path = os.path.join(tmp, f"{name}.ini")
    with open(path, "w") as f:
        f.write(f"""[tributary]
database = {database}
public_dir = {tmp}/{name}-public
listen = 127.0.0.1:{port}
node = {name}
base_url = http://localhost/
feed_limit = 4
interval = 1h

[source a]
url = {base}a.rss

[source b]
url = {base}b.rss

[source c]
url = {base}c.rss

[topic walrus]
query = walrus
limit = 3

[topic zebra]
query = zebra
""")
    tbtest.keep_off_the_internet(path)
    return path


def get(port, path):
    """(status, ETag, body, Last-Modified)."""
    status, headers, body = http_get(f"http://127.0.0.1:{port}/{path}",
                                     headers={"Accept-Encoding": "identity"})
    if not status:
        return status, None, body, None
    return status, headers.get("ETag"), body, headers.get("Last-Modified")


class SyncTest(unittest.TestCase):
    def test_two_nodes(self):
        with TempDir() as tmp, pgserver.PgServer() as pg:
            root = os.path.join(tmp, "www")
            os.mkdir(root)
            write(root, 6)
            up = Upstream(root, os.path.join(tmp, "up.log"))
            nodes = []
            try:
                self.check(tmp, pg, up, root, nodes)
            except BaseException:
                for d in nodes:
                    sys.stderr.write(f"--- {d.log_path}\n{d.log_text()[-4000:]}\n")
                if getattr(self, "last", None):
                    sys.stderr.write(f"differs: {self.last[:5]}\n")
                    import difflib
                    sys.stderr.writelines(difflib.unified_diff(
                        self.last[5].decode(errors="replace").splitlines(True),
                        self.last[6].decode(errors="replace").splitlines(True), "A", "B"))
                raise
            finally:
                for d in nodes:
                    d.stop()
                up.stop()

    def same(self, pa, pb, want):
        """Whether every document is served alike by both nodes, and all.atom has want."""
        for path in DOCS:
            a, b = get(pa, path), get(pb, path)
            if a[0] != 200 or a != b:
                self.last = (path, a[0], b[0], a[1], b[1], a[2], b[2])
                return False
        return want.encode() in get(pa, "all.atom")[2]

    def alike(self, pa, pb):
        """Every document served alike by both nodes, Last-Modified included,
        and B answers 304 to a request conditional on A's Last-Modified."""
        for path in DOCS:
            a, b = get(pa, path), get(pb, path)
            self.assertEqual(a[0], 200, path)
            self.assertEqual(a, b, path)
            self.assertTrue(a[1], f"{path}: no ETag")
            self.assertTrue(a[3], f"{path}: no Last-Modified")
            # A cache that got the document from A asks B whether it changed.
            status, _, body = http_get(f"http://127.0.0.1:{pb}/{path}",
                                       headers={"If-Modified-Since": a[3],
                                                "Accept-Encoding": "identity"})
            self.assertEqual((status, body), (304, b""), path)

    def check(self, tmp, pg, up, root, nodes):
        pa, pb = free_port(), free_port()
        ca = config(tmp, "a", pg.uri, up.base, pa)
        cb = config(tmp, "b", pg.uri, up.base, pb)
        cf = config(tmp, "f", pg.uri, up.base, free_port())
        # A first, so the schema exists when B starts (they may also start at once).
        nodes.append(Daemon(ca, os.path.join(tmp, "a.log")))
        wait_for(lambda: b"Walrus note 6" in get(pa, "all.atom")[2], 60, what="node A's first poll")
        nodes.append(Daemon(cb, os.path.join(tmp, "b.log")))
        wait_for(lambda: b"Walrus note 6" in get(pb, "all.atom")[2], 60, what="node B's first poll")
        wait_for(lambda: psql(pg, "SELECT count(*) FROM pg_stat_activity"
                              " WHERE application_name LIKE 'tributary-sync-%'") == "2",
                 30, what="both nodes listening")

        wait_for(lambda: psql(pg, "SELECT count(*) FROM sources WHERE last_attempt > 0") == "3",
                 30, what="every source's first poll")

        # A third writer stores new entries and rewrites one: both nodes re-render.
        write(root, 9, revised=True)
        out = run("fetch", "-c", cf, check=False).stdout.decode()  # c fails: exit 1
        self.assertIn("new", out)
        self.last = None
        wait_for(lambda: self.same(pa, pb, "Walrus note 9"), 90,
                 what="identical documents on both nodes")
        self.alike(pa, pb)
        # The fetch's rows (node HOST:fetch:PID): the three new entries and w1's update.
        self.assertEqual(psql(pg, "SELECT count(DISTINCT entry_id) FROM changes"
                              " WHERE node LIKE '%:fetch:%'"), "4")

        # B's listener killed: it connects again and catches up, not by its timer.
        killed = psql(pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                      " WHERE application_name = 'tributary-sync-b'")
        self.assertEqual(killed, "1")
        write(root, 11, revised=True)
        t0 = time.monotonic()
        run("fetch", "-c", cf, check=False)
        wait_for(lambda: self.same(pa, pb, "Walrus note 11"), 60,
                 what="B caught up after its connection dropped")
        self.assertLess(time.monotonic() - t0, 30 * tbtest.SLOW)
        wait_for(lambda: "listening connection lost" in nodes[1].log_text(), 10,
                 what="B's log says its connection was lost")

        # Source c (missing so far: failing) comes back, empty: no entry
        # changes, only its poll state, which the pages of both nodes show.
        # First, the nodes' deferred trending rewrites after the entries above
        # (within 10 s, TREND_MIN_MS): they publish the pages too, which would
        # hide pages that do not follow the poll states.
        time.sleep(12)
        moment = psql(pg, "SELECT at FROM trending_at")
        for p in (pa, pb):
            self.assertIn(FAILED, get(p, "topics/zebra.html")[2])
        with open(os.path.join(root, "c.rss"), "w", encoding="utf-8") as f:
            f.write(rss("Zoo blog", []))
        before = psql(pg, "SELECT count(*) FROM changes")
        run("fetch", "-c", cf)
        self.assertEqual(psql(pg, "SELECT failures FROM sources WHERE name = 'c'"), "0")
        self.assertEqual(psql(pg, "SELECT count(*) FROM changes"), before)
        wait_for(lambda: all(FAILED not in get(p, "topics/zebra.html")[2] for p in (pa, pb)), 60,
                 what="both nodes' pages follow the poll state")
        wait_for(lambda: self.same(pa, pb, "Walrus note 11"), 60, what="identical pages")
        self.assertEqual(psql(pg, "SELECT at FROM trending_at"), moment)  # not what moved them
        self.alike(pa, pb)

        # A node that joins later renders everything at its start, seconds
        # after A and B rendered the same bytes: it serves their moments.
        time.sleep(2)
        pc = free_port()
        nodes.append(Daemon(config(tmp, "n3", pg.uri, up.base, pc), os.path.join(tmp, "n3.log")))
        wait_for(lambda: self.same(pa, pc, "Walrus note 11"), 60, what="the third node's documents")
        self.alike(pa, pc)
        self.alike(pc, pb)
        self.assertTrue(all(d.alive() for d in nodes))


if __name__ == "__main__":
    tbtest.main()
