#!/usr/bin/python3
"""Issue 13 item 5: `tributary migrate -c FILE --to postgresql://...` copies a
SQLite database (entries, sources' poll state, cross-source copies,
subscriptions, archives) into an empty PostgreSQL 15 (tests/pgserver.py) in
one transaction, and a node on the copy publishes the same documents, byte
for byte, as the SQLite node did: after `tributary fetch` on the copy the
upstream answers 304 to every source (the validators came along) and
nothing is stored twice. A second migrate into the now non-empty database
is refused and changes nothing; a copy that fails half-way (a value
PostgreSQL refuses) leaves the target empty; wrong directions are refused."""
import email.utils
import filecmp
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
from pgserver import psql  # noqa: E402
import tbtest  # noqa: E402
from tbtest import TempDir, Upstream, run  # noqa: E402

NOW = int(time.time())
TABLES = ("sources", "entries", "entry_keys", "entry_sources", "subscriptions", "sub_topics",
          "archive", "archive_feeds")


def rss(name, items):
    body = "".join(f"""<item><title>{t}</title><link>http://example.org/{k}</link>
<guid>http://example.org/{k}</guid><description>{d}</description>
<pubDate>{email.utils.formatdate(NOW - 7200 + i * 60, usegmt=True)}</pubDate></item>
""" for i, (k, t, d) in enumerate(items))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title><link>http://example.org/{name}</link>"
            f"<description>{name}</description>{body}</channel></rss>\n")


def fixture(root):
    walrus = [(f"w{i}", f"Walrus note {i}", f"About walrus number {i}, tab\there.")
              for i in range(1, 13)]
    other = [(f"o{i}", f"Otter note {i}", "Otters, not walruses: \\ and é.") for i in range(1, 6)]
    with open(os.path.join(root, "a.rss"), "w", encoding="utf-8") as f:
        f.write(rss("Walrus blog", walrus))
    # b carries two of a's entries (the same links): one entry, two copies.
    with open(os.path.join(root, "b.rss"), "w", encoding="utf-8") as f:
        f.write(rss("Otter blog", other + walrus[:2]))


def config(tmp, name, database, base):
    path = os.path.join(tmp, f"{name}.ini")
    with open(path, "w") as f:
        f.write(f"""[tributary]
database = {database}
public_dir = {tmp}/{name}-public
base_url = http://localhost/
feed_limit = 4
static_archive = yes

[mail]
smtp = smtp://127.0.0.1:1
from = papers@example.org

[source a]
url = {base}a.rss

[source b]
url = {base}b.rss

[topic walrus]
query = walrus
limit = 3
""")
    tbtest.keep_off_the_internet(path)
    return path


def read(root, name):
    with open(os.path.join(root, name), encoding="utf-8") as f:
        return f.read()


def tree(root):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in files]
    return sorted(out)


class MigrateTest(unittest.TestCase):
    def test_migrate(self):
        with TempDir() as tmp, pgserver.PgServer() as pg:
            root = os.path.join(tmp, "www")
            os.mkdir(root)
            fixture(root)
            up = Upstream(root, os.path.join(tmp, "up.log"))
            try:
                self.check(tmp, pg, up)
            finally:
                up.stop()

    def check(self, tmp, pg, up):
        db = os.path.join(tmp, "t.db")
        a = config(tmp, "sqlite", db, up.base)
        run("fetch", "-c", a)
        run("subscribe", "-c", a, "ann@example.org", "walrus")
        lite = sqlite3.connect(db)
        counts = {t: lite.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        etags = lite.execute("SELECT name, etag FROM sources ORDER BY name").fetchall()
        lite.close()
        self.assertEqual(counts["entries"], 17)
        self.assertEqual(counts["entry_sources"], 19)
        self.assertGreater(counts["archive"], 0)

        p = run("migrate", "-c", a, "--to", pg.uri)
        self.assertIn(b"entries", p.stdout)
        for t in TABLES:
            self.assertEqual(int(psql(pg, f"SELECT count(*) FROM {t}")), counts[t], t)
        got = psql(pg, "SELECT name || ' ' || etag FROM sources ORDER BY name").splitlines()
        self.assertEqual(got, [f"{n} {e}" for n, e in etags])
        self.assertEqual(psql(pg, "SELECT addr FROM subscriptions"), "ann@example.org")

        # A node on the copy: every source answered 304, nothing new, the
        # same documents byte for byte.
        b = config(tmp, "pg", pg.uri, up.base)
        before = len(up.requests())
        out = run("fetch", "-c", b).stdout.decode()
        polls = up.requests()[before:]
        self.assertEqual(sorted(r["status"] for r in polls), [304, 304], polls)
        self.assertIn("0 new", out)
        self.assertEqual(int(psql(pg, "SELECT count(*) FROM entries")), 17)
        pa, pb = os.path.join(tmp, "sqlite-public"), os.path.join(tmp, "pg-public")
        files = tree(pa)
        self.assertEqual(tree(pb), files)
        self.assertIn("topics/walrus/archive/1.atom", files)
        # Byte for byte, but for what depends on the moment of rendering:
        # the OPML lists' dateCreated and trending's scores (they decay with
        # time), whose ranking must be the same.
        moment = [f for f in files if f.startswith(("sources.opml", "topics.opml", "trending"))]
        same, diff, errors = filecmp.cmpfiles(pa, pb, [f for f in files if f not in moment],
                                              shallow=False)
        self.assertEqual((diff, errors), ([], []))
        self.assertGreater(len(same), 40)
        for f in moment:
            if f.endswith(".opml"):
                a_, b_ = (re.sub(r"<dateCreated>[^<]*</dateCreated>", "", read(d, f))
                          for d in (pa, pb))
                self.assertEqual(a_, b_, f)
            elif f.endswith(".json"):
                a_, b_ = ([i["id"] for i in json.loads(read(d, f))["items"]] for d in (pa, pb))
                self.assertEqual(a_, b_, f)
        # New rows get new ids after the copied ones.
        run("subscribe", "-c", b, "bob@example.org", "walrus")
        self.assertEqual(psql(pg, "SELECT count(DISTINCT id) FROM subscriptions"), "2")

        # Into a database with rows: refused, nothing changed.
        p = run("migrate", "-c", a, "--to", pg.uri, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not empty", p.stderr)
        self.assertEqual(psql(pg, "SELECT count(*) FROM subscriptions"), "2")
        self.assertEqual(int(psql(pg, "SELECT count(*) FROM entries")), 17)

        # Wrong directions.
        p = run("migrate", "-c", b, "--to", pg.uri, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("PostgreSQL already", p.stderr)
        p = run("migrate", "-c", a, "--to", os.path.join(tmp, "other.db"), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("postgresql://", p.stderr)

        # A copy that fails half-way leaves the target empty.
        psql(pg, "CREATE DATABASE second")
        second = pg.uri.replace("/postgres?", "/second?")
        lite = sqlite3.connect(db)
        lite.execute("UPDATE entries SET sort_time = 'not a number' WHERE id = "
                     "(SELECT max(id) FROM entries)")
        lite.commit()
        lite.close()
        p = run("migrate", "-c", a, "--to", second, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("entries", p.stderr)
        for t in TABLES:
            got = subprocess.run(["psql", "-X", "-At", "-d", second, "-c",
                                  f"SELECT count(*) FROM {t}"], capture_output=True, text=True)
            self.assertEqual(got.stdout.strip(), "0", (t, got.stderr))


if __name__ == "__main__":
    tbtest.main()
