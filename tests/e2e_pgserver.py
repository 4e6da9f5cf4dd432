#!/usr/bin/python3
"""tests/pgserver.py, which the PostgreSQL tests stand on: the server runs as
an unprivileged user from a data directory that user owns, listens on no TCP
port, keeps its data over a stop and start, and is gone with its directory
at the end, also when the test body fails; without PostgreSQL a test skips
(fails under CI)."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
from pgserver import psql  # noqa: E402
import tbtest  # noqa: E402


def postmaster_uid(pg):
    with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
        pid = int(f.readline())
    return os.stat(f"/proc/{pid}").st_uid


class PgServerTest(unittest.TestCase):
    def test_server(self):
        with pgserver.PgServer() as pg:
            self.assertTrue(pg.uri.startswith("postgresql://"))
            self.assertEqual(psql(pg, "SELECT current_setting('server_version_num')::int / 10000"),
                             "15")
            # Unprivileged, and owning its data.
            uid = postmaster_uid(pg)
            self.assertNotEqual(uid, 0)
            self.assertEqual(os.stat(os.path.join(pg.dir, "data")).st_uid, uid)
            if os.geteuid() != 0:
                self.assertEqual(uid, os.geteuid())
            # A Unix socket in its directory, no TCP.
            self.assertEqual(psql(pg, "SHOW listen_addresses"), "")
            self.assertEqual(psql(pg, "SHOW unix_socket_directories"), pg.dir)
            psql(pg, "CREATE TABLE t(x int); INSERT INTO t VALUES (42)")
            pg.stop()
            pg.start()
            self.assertEqual(psql(pg, "SELECT x FROM t"), "42")
            d = pg.dir
        self.assertFalse(os.path.exists(d))

    def test_cleanup_on_failure(self):
        d = None
        with self.assertRaises(ZeroDivisionError):
            with pgserver.PgServer() as pg:
                d = pg.dir
                1 / 0
        self.assertIsNotNone(d)
        self.assertFalse(os.path.exists(d))

    def test_wrapper(self):
        # The C tests' wrapper: the URI and the stop/start commands in the
        # environment, the program's exit status passed on, nothing left.
        try:
            pgserver.bindir()
        except pgserver.Missing as e:
            tbtest.missing(str(e))
        script = ('test -n "$TB_TEST_PG" && eval "$TB_TEST_PG_STOP" && eval "$TB_TEST_PG_START"'
                  ' && echo "${TB_TEST_PG#*host=}" && exit 7')
        p = subprocess.run([sys.executable, pgserver.__file__, "sh", "-c", script],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 7, p.stderr)
        d = p.stdout.strip()
        self.assertTrue(d.startswith("/"), p.stdout)
        self.assertFalse(os.path.exists(d))


if __name__ == "__main__":
    tbtest.main()
