#!/usr/bin/python3
"""End-to-end test of the daemon's bounded pipeline: `tributary fetch` over
more sources than it lets into flight at once (max_connections + 128), so
most of them wait for a slot, and every stored batch mixes healthy feeds
with failed fetches and unparsable documents. Every source must be polled
exactly once and recorded; every healthy entry stored once, in the
full-text index too; a second cycle answers 304 everywhere."""
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from e2e_daemon import Upstream, atom  # noqa: E402

HEALTHY = 300
BROKEN = 20  # half 404, half not XML
PER_FEED = 3
DUPS = len(range(10, HEALTHY, 10))


class BacklogTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tb-backlog-")
        self.up = Upstream(self.tmp)
        self.config = os.path.join(self.tmp, "t.ini")
        lines = ["[tributary]", "database = t.db", "public_dir = pub", "max_connections = 2",
                 "max_per_host = 2", "", "[topic quasar]", "query = quasar", ""]
        for i in range(HEALTHY):
            # Every tenth feed also carries the paper of the feed before it
            # (same link, other id): stored once, from two sources.
            # atom() links an entry to https://example.org/<last part of its id>.
            entries = [(f"urn:x:{i}-{k}", f"Quasar paper {i} number {k}", "2024-01-01T00:00:00Z")
                       for k in range(PER_FEED)]
            if i > 0 and i % 10 == 0:
                entries.append((f"urn:y:{i - 1}-0", f"Quasar paper {i - 1} number 0",
                                "2024-01-01T00:00:00Z"))
            self.up.write(f"f{i}.atom", atom(f"urn:feed:{i}", entries))
            lines += [f"[source f{i}]", f"url = {self.up.url(f'/f{i}.atom')}", ""]
        for i in range(BROKEN):
            path = f"/status/404?n={i}" if i % 2 else f"/junk{i}.xml"
            if i % 2 == 0:
                self.up.write(f"junk{i}.xml", "this is not a feed <<<")
            lines += [f"[source broken{i}]", f"url = {self.up.url(path)}", ""]
        with open(self.config, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))

    def tearDown(self):
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_many_sources(self):
        p = tbtest.run("fetch", "-c", self.config, check=False, timeout=300)
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 1, p.stderr)  # the broken sources failed
        total = HEALTHY + BROKEN
        self.assertIn(f"{total} polled, {BROKEN} failed; {HEALTHY * PER_FEED} new, 0 updated",
                      out.splitlines()[-1])
        db = sqlite3.connect(os.path.join(self.tmp, "t.db"))
        try:
            self.check_db(db)
        finally:
            db.close()
        with open(os.path.join(self.tmp, "pub", "topics", "quasar.atom"), "rb") as f:
            self.assertIn(b"Quasar paper", f.read())
        p = tbtest.run("fetch", "-c", self.config, check=False, timeout=300)
        self.assertIn(f"{total} polled, {BROKEN} failed; 0 new, 0 updated",
                      p.stdout.decode().splitlines()[-1])
        tbtest.wait_for(
            lambda: len([e for _, e in self.up.lines("/f") if e["status"] == 304]) == HEALTHY,
            20, step=0.1, what="304 answers logged")

    def check_db(self, db):
        q = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        self.assertEqual(q("SELECT count(*) FROM entries"), HEALTHY * PER_FEED)
        self.assertEqual(q("SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'quasar'"),
                         HEALTHY * PER_FEED)
        db.execute("INSERT INTO entries_fts(entries_fts) VALUES('integrity-check')")
        self.assertEqual(q("SELECT count(*) FROM sources WHERE last_attempt IS NULL"), 0)
        self.assertEqual(q("SELECT count(*) FROM sources WHERE etag IS NOT NULL"), HEALTHY)
        self.assertEqual(q("SELECT count(*) FROM sources WHERE last_error IS NOT NULL"), BROKEN)
        self.assertEqual(q("SELECT count(*) FROM sources WHERE entries_seen = 3"), HEALTHY - DUPS)
        self.assertEqual(q("SELECT count(*) FROM sources WHERE entries_seen = 4"), DUPS)


if __name__ == "__main__":
    tbtest.main()
