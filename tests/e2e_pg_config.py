#!/usr/bin/python3
"""`database = postgresql://...` in the config: the commands open the store on
PostgreSQL (a real PostgreSQL 15, tests/pgserver.py), create its schema once
(tb_schema at SQLite's version), and keep their data there; a server that
cannot be reached, and a URI with a password in it, are refused with a
clear message."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
from pgserver import psql  # noqa: E402
import tbtest  # noqa: E402
from tbtest import run  # noqa: E402


def config(tmp, database):
    path = os.path.join(tmp, "t.ini")
    with open(path, "w") as f:
        f.write(f"[tributary]\ndatabase = {database}\npublic_dir = {tmp}/public\n\n"
                "[mail]\nsmtp = smtp://127.0.0.1:1\nfrom = papers@example.org\n\n"
                "[source a]\nurl = http://127.0.0.1:1/a.atom\n\n"
                "[topic attention]\nquery = attention\n")
    return path


class PgConfigTest(unittest.TestCase):
    def test_store_on_postgresql(self):
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            conf = config(tmp, pg.uri)
            run("subscribe", "-c", conf, "Ann@Example.org", "attention")
            run("subscribe", "-c", conf, "--weekly", "bob@example.org", "attention", "trending")
            subs = json.loads(run("subscribers", "-c", conf, "--json").stdout)
            got = sorted((s["address"], s["frequency"]) for s in subs)
            self.assertEqual(got, [("Ann@example.org", "daily"), ("bob@example.org", "weekly")])
            # In PostgreSQL, not in a file beside the config.
            self.assertEqual(psql(pg, "SELECT count(*) FROM subscriptions"), "2")
            self.assertEqual(psql(pg, "SELECT version FROM tb_schema"), "22")
            self.assertEqual(sorted(os.listdir(tmp)), ["t.ini"])

    def test_unreachable(self):
        with tbtest.TempDir() as tmp:
            conf = config(tmp, f"postgresql://tb@/feeds?host={tmp}")
            p = run("subscribers", "-c", conf, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("cannot open the PostgreSQL database", p.stderr)
            self.assertIn(f"{tmp}/.s.PGSQL.5432", p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_password_refused(self):
        with tbtest.TempDir() as tmp:
            conf = config(tmp, "postgresql://tb:hunter2@db.example.org/feeds")
            p = run("subscribers", "-c", conf, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("a password in the PostgreSQL URI", p.stderr)
            self.assertIn(".pgpass", p.stderr)
            self.assertNotIn("hunter2", p.stderr)


if __name__ == "__main__":
    tbtest.main()
