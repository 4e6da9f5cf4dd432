#!/usr/bin/python3
"""Faults of a PostgreSQL node (issue 13 item 4), on a real PostgreSQL 15
(tests/pgserver.py) and real `tributary serve` nodes polling a local
upstream: PostgreSQL stopped while a node polls and serves (the node keeps
serving the same bytes, /readyz says 503, and once the server is back the
node reconnects within the backoff's bound and stores what came meanwhile
exactly once); the server replaced by one that accepts connections and
never answers (a loopback proxy switched to a black hole: the node keeps
serving while it tries again, never blocked by an attempt, and recovers
once the proxy forwards again); the node's connections terminated (pg_terminate_backend)
again and again in the middle of its first cycle's batches (nothing half
stored: every entry has its keys, sources and topic memberships, and every
entry is there once after recovery)."""
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
import tbtest  # noqa: E402
from e2e_cluster import psql  # noqa: E402

INTERVAL = 3  # seconds
LEASE = 10    # seconds (the shortest allowed)
BACKOFF_MAX = 5  # seconds: daemon_db.c's bound on a reconnect's wait


def write_feed(root, i, papers):
    """Feed f{i}: one Atom entry per paper name, each about walruses."""
    entries = "".join(
        f'<entry><title>Walrus paper {p}</title><id>urn:paper:{p}</id>'
        f'<link href="http://example.org/paper/{p}"/>'
        '<updated>2026-12-01T00:00:00Z</updated><summary>walrus study</summary></entry>'
        for p in papers)
    tmp = os.path.join(root, f".f{i}.atom")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>'
                '<feed xmlns="http://www.w3.org/2005/Atom">'
                f'<title>Feed {i}</title><id>urn:feed:{i}</id>'
                f'<updated>2026-12-01T00:00:{len(papers) % 60:02d}Z</updated>{entries}</feed>')
    os.replace(tmp, os.path.join(root, f"f{i}.atom"))


class Proxy:
    """A loopback TCP port in front of the server's Unix socket. Forwarding,
    or a black hole: connections accepted and never answered (what a node
    sees of a half-dead host). Each switch closes the connections of the
    mode left, as a server going away does."""

    def __init__(self, pg):
        self.target = os.path.join(pg.dir, ".s.PGSQL.5432")
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.silent = False
        self.conns = []   # open sockets of the current mode
        self.swallowed = 0  # connections accepted in black-hole mode
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def uri(self, user):
        return (f"postgresql://{user}@127.0.0.1:{self.port}/postgres"
                "?sslmode=disable&gssencmode=disable")

    def accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
                if self.silent:
                    self.swallowed += 1
                    continue
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.target)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns.append(s)
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def switch(self, silent):
        with self.lock:
            self.silent = silent
            old, self.conns = self.conns, []
        for c in old:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()
        self.switch(False)


class Node:
    def __init__(self, tmp, pg, name, nsources, base, interval=INTERVAL, database=None):
        self.name, self.port = name, tbtest.free_port()
        self.root = f"http://127.0.0.1:{self.port}/"
        self.config = os.path.join(tmp, f"{name}.ini")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(f"[tributary]\ndatabase = {database or pg.uri}\npublic_dir = {tmp}/public-{name}\n"
                    f"listen = 127.0.0.1:{self.port}\nnode = {name}\nlease = {LEASE}s\n"
                    f"interval = {interval}s\nmax_per_host = 64\n"
                    f"base_url = {self.root}\n\n"
                    "[topic walrus]\ntitle = Walruses\nquery = walrus\nlimit = 500\n\n")
            for i in range(nsources):
                f.write(f"[source s{i:03d}]\nurl = {base}f{i}.atom\n\n")
        self.daemon = tbtest.Daemon(self.config, os.path.join(tmp, f"{name}.log"))

    def get(self, path):
        return tbtest.http_get(self.root + path)

    def metric(self, name):
        status, _, body = self.get("metrics")
        if status != 200:
            return None
        m = re.search(rf"^{re.escape(name)} (\d+)$", body.decode(), re.M)
        return int(m.group(1)) if m else None

    def topic_entries(self):
        status, _, body = self.get("topics/walrus.atom")
        return body.count(b"<entry>") if status == 200 else -1


def consistent(test, pg, expected):
    """Every entry has its key, its source and its membership (or none of
    them exist), each upstream paper is stored once, and there are expected."""
    test.assertEqual(psql(pg, "SELECT count(*) FROM entries"), str(expected))
    test.assertEqual(psql(pg, "SELECT count(DISTINCT upstream_id) FROM entries"), str(expected))
    test.assertEqual(psql(pg, "SELECT count(*) FROM entries e WHERE NOT EXISTS"
                              " (SELECT 1 FROM entry_keys k WHERE k.entry_id = e.id)"), "0")
    test.assertEqual(psql(pg, "SELECT count(*) FROM entries e WHERE NOT EXISTS"
                              " (SELECT 1 FROM entry_sources s WHERE s.entry_id = e.id)"), "0")
    test.assertEqual(psql(pg, "SELECT count(*) FROM entries e WHERE NOT EXISTS"
                              " (SELECT 1 FROM topic_members m WHERE m.entry_id = e.id)"), "0")
    for table in ("entry_keys", "entry_sources", "topic_members"):
        test.assertEqual(psql(pg, f"SELECT count(*) FROM {table} t WHERE NOT EXISTS"
                                  " (SELECT 1 FROM entries e WHERE e.id = t.entry_id)"), "0")


class PgFaultsTest(unittest.TestCase):
    def test_postgresql_restart(self):
        """PostgreSQL stopped under a polling, serving node, then started."""
        n = 5
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            for i in range(n):
                write_feed(www, i, [f"p{i}"])
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            node = None
            try:
                node = Node(tmp, pg, "n1", n, up.base)
                tbtest.wait_for(lambda: node.topic_entries() == n, 60, what="first cycle")
                tbtest.wait_for(lambda: node.get("readyz")[0] == 200, 30, what="ready")
                _, _, before = node.get("topics/walrus.atom")
                self.assertEqual(node.metric("tributary_database_up"), 1)

                pg.stop()
                # A new paper while the server is down: fetched, not storable.
                write_feed(www, 0, ["p0", "late"])
                tbtest.wait_for(lambda: node.get("readyz")[0] == 503, 10, what="503")
                status, _, body = node.get("readyz")
                self.assertIn(b"database", body)
                tbtest.wait_for(lambda: node.metric("tributary_database_up") == 0, 3,
                                what="tributary_database_up 0")
                end = time.monotonic() + 3 * INTERVAL
                while time.monotonic() < end:
                    status, _, body = node.get("topics/walrus.atom")
                    self.assertEqual((status, body), (200, before))
                    self.assertEqual(node.get("readyz")[0], 503)
                    time.sleep(0.3)
                # (No poll meanwhile: a poll starts with a claim in the database.)
                self.assertTrue(node.daemon.alive())

                pg.start()
                started = time.monotonic()
                tbtest.wait_for(lambda: node.get("readyz")[0] == 200, BACKOFF_MAX + 10,
                                what="ready after the restart")
                took = time.monotonic() - started
                self.assertLess(took, (BACKOFF_MAX + 3) * tbtest.SLOW)
                tbtest.wait_for(lambda: b"Walrus paper late" in node.get("topics/walrus.atom")[2],
                                30, what="the late paper published")
                self.assertEqual(node.metric("tributary_database_up"), 1)
                self.assertGreaterEqual(node.metric("tributary_database_reconnects_total"), 1)
                time.sleep(INTERVAL + 1)  # another cycle: nothing stored twice
            finally:
                if node is not None:
                    node.daemon.stop()
                up.stop()
            consistent(self, pg, n + 1)
            log = node.daemon.log_text()
            print(f"reconnected {took:.1f} s after the start", file=sys.stderr)
            # daemon_db.c's two lines (the sync listener logs its own loss too).
            lost = log.count("database: connection lost (")
            back = log.count("database: reconnected after")
            self.assertGreaterEqual(lost, 1, log[-3000:])
            self.assertEqual(lost, back, log[-3000:])
            self.assertLessEqual(lost, 3, log[-3000:])  # not one line per attempt

    def test_silent_server(self):
        """The node's server becomes one that accepts and never answers (a
        proxy switched to a black hole): every attempt to connect again hangs
        until the node gives it up, and meanwhile the node answers HTTP (the
        same bytes, /readyz 503); once the proxy forwards again it is back
        and stores what came meanwhile. (Connecting with a blocking
        PQreset held the loop for as long as the server stayed silent.)"""
        n = 3
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            for i in range(n):
                write_feed(www, i, [f"p{i}"])
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            proxy = Proxy(pg)
            node = None
            try:
                node = Node(tmp, pg, "n1", n, up.base, database=proxy.uri(pgserver.DB_USER))
                tbtest.wait_for(lambda: node.topic_entries() == n, 60, what="first cycle")
                tbtest.wait_for(lambda: node.get("readyz")[0] == 200, 30, what="ready")
                _, _, before = node.get("topics/walrus.atom")

                proxy.switch(silent=True)
                write_feed(www, 0, ["p0", "late"])
                tbtest.wait_for(lambda: node.get("readyz")[0] == 503, 30, what="503")
                tbtest.wait_for(lambda: node.metric("tributary_database_up") == 0, 30,
                                what="the loss found")
                # Attempts hang on the black hole and are given up, then tried
                # again: the node answers every request meanwhile (http_get
                # gives it 10 s; a blocked loop answers none).
                end = time.monotonic() + 120 * tbtest.SLOW
                while time.monotonic() < end and not (
                        (node.metric("tributary_database_connect_attempts_total") or 0) >= 3):
                    status, _, body = node.get("topics/walrus.atom")
                    self.assertEqual((status, body), (200, before))
                    self.assertEqual(node.get("readyz")[0], 503)
                    self.assertEqual(node.metric("tributary_database_up"), 0)
                    time.sleep(0.5)
                self.assertGreaterEqual(node.metric("tributary_database_connect_attempts_total"), 3,
                                        "attempts not given up and made again")
                self.assertGreaterEqual(proxy.swallowed, 3)
                self.assertTrue(node.daemon.alive())

                proxy.switch(silent=False)
                tbtest.wait_for(lambda: node.get("readyz")[0] == 200, 60,
                                what="ready once the proxy forwards")
                tbtest.wait_for(lambda: b"Walrus paper late" in node.get("topics/walrus.atom")[2],
                                60, what="the late paper published")
                self.assertEqual(node.metric("tributary_database_up"), 1)
                # A clean exit (handles closed; no sanitizer report).
                self.assertEqual(node.daemon.stop(), 0, node.daemon.log_text()[-3000:])
            finally:
                if node is not None:
                    node.daemon.stop()
                proxy.close()
                up.stop()
            consistent(self, pg, n + 1)
            log = node.daemon.log_text()
            self.assertGreaterEqual(log.count("database: reconnected after"), 1, log[-3000:])

    def test_terminated_mid_batch(self):
        """The node's connections are terminated again and again while its
        first cycle stores 40 feeds of 50 papers: nothing is half stored, and
        every paper is stored once after recovery."""
        n, per = 40, 50
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            for i in range(n):
                write_feed(www, i, [f"p{i}x{j}" for j in range(per)])
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            node = None
            kills = 0
            try:
                node = Node(tmp, pg, "n1", n, up.base, interval=3600)
                tbtest.wait_for(lambda: psql(pg, "SELECT count(*) FROM pg_tables WHERE tablename"
                                                 " = 'entries'") == "1", 60, what="the schema")
                tbtest.wait_for(lambda: psql(pg, "SELECT count(*) FROM entries") != "0", 60,
                                step=0.02, what="the first stored batch")
                for _ in range(8):
                    kills += int(psql(pg, "SELECT count(pg_terminate_backend(pid))"
                                          " FROM pg_stat_activity WHERE backend_type ="
                                          " 'client backend' AND pid <> pg_backend_pid()"))
                    # Between two kills: nothing half stored.
                    bare = psql(pg, "SELECT count(*) FROM entries e WHERE NOT EXISTS"
                                    " (SELECT 1 FROM entry_sources s WHERE s.entry_id = e.id)"
                                    " OR NOT EXISTS (SELECT 1 FROM entry_keys k"
                                    " WHERE k.entry_id = e.id) OR NOT EXISTS (SELECT 1"
                                    " FROM topic_members m WHERE m.entry_id = e.id)")
                    self.assertEqual(bare, "0")
                    time.sleep(0.4)
                tbtest.wait_for(lambda: psql(pg, "SELECT count(*) FROM entries") == str(n * per),
                                LEASE + 60, what="every paper after recovery")
                tbtest.wait_for(lambda: node.topic_entries() == min(n * per, 500), 30,
                                what="published")
                tbtest.wait_for(lambda: node.get("readyz")[0] == 200, 30, what="ready")
            finally:
                if node is not None:
                    node.daemon.stop()
                up.stop()
            consistent(self, pg, n * per)
            log = node.daemon.log_text()
            print(f"{kills} backends terminated; {log.count('database: connection lost (')} losses,"
                  f" {log.count('reconnected after')} reconnects", file=sys.stderr)
            self.assertGreater(kills, 0)
            self.assertGreaterEqual(log.count("reconnected after"), 1, log[-3000:])

    def test_killed_mid_cycle(self):
        """n1 is killed (SIGKILL) while its first cycle stores 40 feeds of 50
        papers; n2 takes the sources over once their leases end: every paper
        is stored exactly once, nothing half stored (e2e_cluster kills a
        node mid-poll but stores no entries)."""
        import signal
        n, per = 40, 50
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            for i in range(n):
                write_feed(www, i, [f"p{i}x{j}" for j in range(per)])
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            n2 = None
            try:
                n1 = Node(tmp, pg, "n1", n, up.base, interval=3600)
                tbtest.wait_for(lambda: psql(pg, "SELECT count(*) FROM pg_tables WHERE tablename"
                                                 " = 'entries'") == "1", 60, what="the schema")
                tbtest.wait_for(lambda: psql(pg, "SELECT count(*) FROM entries") != "0", 60,
                                step=0.02, what="the first stored batch")
                n1.daemon.stop(signal.SIGKILL)
                stored = int(psql(pg, "SELECT count(*) FROM entries"))
                n2 = Node(tmp, pg, "n2", n, up.base, interval=3600)
                tbtest.wait_for(lambda: psql(pg, "SELECT count(*) FROM entries") == str(n * per),
                                LEASE + 60, what="every paper after n1's leases")
                time.sleep(2)
            finally:
                if n2 is not None:
                    n2.daemon.stop()
                up.stop()
            consistent(self, pg, n * per)
            print(f"n1 stored {stored} of {n * per} before its SIGKILL", file=sys.stderr)


if __name__ == "__main__":
    tbtest.main()
