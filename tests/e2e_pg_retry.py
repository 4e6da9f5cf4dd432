#!/usr/bin/python3
"""A poll whose store cannot get its locks in time on PostgreSQL (TB_EDB_RETRY:
a deadlock between two nodes' transactions, or lock_timeout) is stored
again in a new transaction, not failed and fetched again (src/daemon_store.c).

A psql session holds every paper-bucket lock (src/store/store_put.c) when a
node starts; the node's first poll waits for one of them, its lock_timeout
(5 s) ends the try, and the node logs that it stores the poll again. Once
the session lets go, the poll is stored: the feed's entries once, its
outcome recorded as a success, tributary_store_retries_total at least 1,
and the source fetched once (by the upstream's log). Waits are for those
outcomes, not for times.

And a node starting while another transaction holds a source's row (as
another node's poll holds its sources' rows to its commit) starts: its
sources' sync writes only what changed (it used to rewrite every source's
trending weight, waiting for such a row, and with two nodes' polls
deadlocking).

And a node whose first sync of the sources (one transaction) is undone by
the lock timeout, behind a transaction holding the sources table, makes it
again and starts (src/daemon_source.c)."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
from pgserver import psql  # noqa: E402
import tbtest  # noqa: E402

BUCKETS = 512                   # store_put.c LOCK_BUCKETS
BUCKET_BASE = 0x7472696275740000  # store_put.c LOCK_BUCKET_BASE


def write_feed(root):
    entries = "".join(f'<entry><title>Paper {k}</title><id>urn:paper:{k}</id>'
                      f'<link href="http://example.org/paper/{k}"/>'
                      '<updated>2026-12-01T00:00:00Z</updated><summary>s</summary></entry>'
                      for k in range(3))
    with open(os.path.join(root, "f0.atom"), "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>'
                '<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title>'
                '<id>urn:feed:0</id><updated>2026-12-01T00:00:00Z</updated>'
                + entries + '</feed>')


def config_file(tmp, name, pg, port, sources):
    path = os.path.join(tmp, f"{name}.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"[tributary]\ndatabase = {pg.uri}\npublic_dir = {tmp}/public\n"
                f"listen = 127.0.0.1:{port}\nnode = {name}\ninterval = 1h\n\n")
        for k, url in enumerate(sources):
            f.write(f"[source s{k}]\nurl = {url}\n\n")
    return path


class PgRetryTest(unittest.TestCase):
    def wait_ready(self, node, port, what="the node ready"):
        def ready():
            self.assertTrue(node.alive(), node.log_text()[-3000:])
            return tbtest.http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        tbtest.wait_for(ready, 120, step=0.5, what=what)

    def start_once(self, tmp, config, port):
        """A first start and stop: the schema and the sources' rows."""
        first = tbtest.Daemon(config, os.path.join(tmp, "first.log"))
        self.wait_ready(first, port, "the first start ready")
        self.assertEqual(first.stop(), 0)

    def test_store_waiting_past_lock_timeout_is_stored_again(self):
        tbtest.need_tool("psql")
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            write_feed(www)
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            port = tbtest.free_port()
            config = config_file(tmp, "n1", pg, port, [f"{up.base}f0.atom"])
            # The schema first (a node's start creates it), then the locks.
            tbtest.run("sources", "-c", config)
            node = None
            try:
                with pgserver.Session(pg) as holder:
                    self.assertEqual(holder.ask(
                        f"SELECT count(pg_advisory_lock({BUCKET_BASE} + b))"
                        f" FROM generate_series(0, {BUCKETS - 1}) b;"), [str(BUCKETS)])
                    node = tbtest.Daemon(config, os.path.join(tmp, "n1.log"))
                    tbtest.wait_for(lambda: "storing them again" in node.log_text(), 120,
                                    step=0.5,
                                    what="the node storing a poll again after a lock timeout")
                    holder.close()
                tbtest.wait_for(lambda: psql(pg, "SELECT last_status FROM sources"
                                                 " WHERE name = 's0'") == "200", 120, step=0.5,
                                what="the poll recorded")
                text = node.log_text()
                status, _, body = tbtest.http_get(f"http://127.0.0.1:{port}/metrics")
                self.assertEqual(status, 200)
                m = re.search(r"^tributary_store_retries_total (\d+)$", body.decode(), re.M)
                self.assertIsNotNone(m, body.decode()[-2000:])
                self.assertGreaterEqual(int(m.group(1)), 1)
            finally:
                if node is not None:
                    node.stop()
                up.stop()
            self.assertEqual(psql(pg, "SELECT count(*) FROM entries"), "3", text[-3000:])
            self.assertEqual(psql(pg, "SELECT coalesce(last_error, '') FROM sources"
                                      " WHERE name = 's0'"), "", text[-3000:])
            self.assertNotIn("s0: 200 error", text)
            with open(up.log, encoding="utf-8") as f:
                fetches = [json.loads(x)["path"] for x in f if x.strip()]
            self.assertEqual(fetches.count("/f0.atom"), 1, fetches)

    def test_node_starts_while_a_source_row_is_locked(self):
        tbtest.need_tool("psql")
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            port = tbtest.free_port()
            urls = ["http://127.0.0.1:9/f0.atom", "http://127.0.0.1:9/f1.atom"]
            config = config_file(tmp, "n2", pg, port, urls)
            self.start_once(tmp, config, port)
            psql(pg, "UPDATE sources SET next_poll = CAST(extract(epoch FROM now()) AS bigint)"
                     " + 3600")
            node = None
            try:
                with pgserver.Session(pg) as holder:
                    self.assertEqual(holder.ask("BEGIN;\nSELECT count(*) FROM (SELECT id FROM"
                                                " sources WHERE name = 's0' FOR UPDATE) AS t;",
                                                2), ["BEGIN", "1"])
                    node = tbtest.Daemon(config, os.path.join(tmp, "n2.log"))
                    self.wait_ready(node, port)
                    self.assertNotIn("lock timeout", node.log_text())
            finally:
                if node is not None:
                    self.assertEqual(node.stop(), 0, node.log_text()[-3000:])

    def test_node_starts_after_its_first_sync_is_undone(self):
        """The first sync (one transaction writing every new source's row)
        waits past the lock timeout behind another transaction holding the
        sources table: undone, it is made again and the node starts (it
        used to exit: 'transaction rolled back after an earlier error')."""
        tbtest.need_tool("psql")
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            port = tbtest.free_port()
            urls = ["http://127.0.0.1:9/f0.atom"]
            self.start_once(tmp, config_file(tmp, "n3", pg, port, urls), port)
            config = config_file(tmp, "n3", pg, port, urls + ["http://127.0.0.1:9/f1.atom"])
            node = None
            try:
                with pgserver.Session(pg) as holder:
                    self.assertEqual(holder.ask("BEGIN;\nLOCK TABLE sources IN EXCLUSIVE MODE;",
                                                2), ["BEGIN", "LOCK TABLE"])
                    node = tbtest.Daemon(config, os.path.join(tmp, "n3.log"))

                    def again():
                        self.assertTrue(node.alive(), node.log_text()[-3000:])
                        return "syncing the sources again" in node.log_text()
                    tbtest.wait_for(again, 120, step=0.5,
                                    what="the first sync undone and made again")
                    holder.close()
                self.wait_ready(node, port)
                self.assertEqual(psql(pg, "SELECT string_agg(name, ',' ORDER BY name)"
                                          " FROM sources WHERE active = 1"), "s0,s1")
            finally:
                if node is not None:
                    self.assertEqual(node.stop(), 0, node.log_text()[-3000:])


if __name__ == "__main__":
    tbtest.main()
