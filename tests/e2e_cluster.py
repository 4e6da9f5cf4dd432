#!/usr/bin/python3
"""Several `tributary serve` nodes on one PostgreSQL (a real PostgreSQL 15,
tests/pgserver.py) polling a local upstream: due sources are claimed with
leases, so each source is fetched once per interval across the nodes (by
the upstream's log), every poll is recorded by exactly one node, and no
entry is stored twice; a node stalled past its lease (SIGSTOP) has its late
outcome refused, the state staying the other node's; a node killed in the
middle of a poll (SIGKILL) leaves its source to the other once the lease
runs out."""
import json
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgserver  # noqa: E402
from pgserver import psql  # noqa: E402
import tbtest  # noqa: E402
from tbtest import run  # noqa: E402

N = 30          # sources
INTERVAL = 6    # seconds
LEASE = 10      # seconds (the shortest allowed)


def write_feeds(root, n):
    for i in range(n):
        with open(os.path.join(root, f"f{i}.atom"), "w", encoding="utf-8") as f:
            f.write('<?xml version="1.0" encoding="utf-8"?>'
                    '<feed xmlns="http://www.w3.org/2005/Atom">'
                    f'<title>Feed {i}</title><id>urn:feed:{i}</id>'
                    '<updated>2026-12-01T00:00:00Z</updated>'
                    f'<entry><title>Paper {i}</title><id>urn:paper:{i}</id>'
                    f'<link href="http://example.org/paper/{i}"/>'
                    '<updated>2026-12-01T00:00:00Z</updated><summary>s</summary></entry>'
                    '</feed>')


class Node:
    """One `tributary serve` of the cluster: its own listen, public_dir, node."""

    def __init__(self, tmp, pg, name, sources, interval=INTERVAL):
        self.name, self.port = name, tbtest.free_port()
        self.config = os.path.join(tmp, f"{name}.ini")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(f"[tributary]\ndatabase = {pg.uri}\npublic_dir = {tmp}/public-{name}\n"
                    f"listen = 127.0.0.1:{self.port}\nnode = {name}\nlease = {LEASE}s\n"
                    f"interval = {interval}s\nmax_per_host = 64\n\n")
            for src, url in sources:
                f.write(f"[source {src}]\nurl = {url}\n\n")
        self.daemon = tbtest.Daemon(self.config, os.path.join(tmp, f"{name}.log"))

    def metric(self, name, labels=""):
        status, _, body = tbtest.http_get(f"http://127.0.0.1:{self.port}/metrics")
        if status != 200:
            return None
        m = re.search(rf"^{re.escape(name + labels)} (\d+)$", body.decode(), re.M)
        return int(m.group(1)) if m else 0

    def stop(self):
        return self.daemon.stop()


class Log:
    """The upstream's request log, each line stamped when the test first saw it."""

    def __init__(self, path):
        self.path, self.seen, self.lines = path, 0, []

    def poll(self):
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            lines = [json.loads(x) for x in f if x.strip()]
        now = time.monotonic()
        for r in lines[self.seen:]:
            self.lines.append((now, r["path"]))
        self.seen = len(lines)

    def watch(self, seconds):
        end = time.monotonic() + seconds * tbtest.SLOW
        while time.monotonic() < end:
            self.poll()
            time.sleep(0.1)

    def times(self, path):
        return [t for t, p in self.lines if p == path]


class ClusterTest(unittest.TestCase):
    def test_two_nodes_poll_each_source_once_per_interval(self):
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            write_feeds(www, N)
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            nodes = []
            try:
                sources = [(f"s{i:02d}", f"{up.base}f{i}.atom") for i in range(N)]
                nodes = [Node(tmp, pg, name, sources) for name in ("n1", "n2")]
                log = Log(up.log)
                log.watch(4 * INTERVAL)
                polls = [n.metric("tributary_node_polls_total", f'{{node="{n.name}"}}')
                         for n in nodes]
                lost = [n.metric("tributary_leases_total", '{outcome="lost"}') for n in nodes]
                log.watch(0.5)  # requests logged before the metrics were read
            finally:
                for n in nodes:
                    n.stop()
                up.stop()
            log.poll()
            total = 0
            for i in range(N):
                t = log.times(f"/f{i}.atom")
                total += len(t)
                self.assertGreaterEqual(len(t), 3, f"f{i}: fetched {len(t)} times")
                gaps = [b - a for a, b in zip(t, t[1:])]
                # Once per interval across both nodes: never twice within one.
                self.assertTrue(all(g >= INTERVAL - 1.5 for g in gaps),
                                f"f{i}: fetched again after {min(gaps):.1f} s")
            # Each poll recorded by exactly one node, both nodes polling.
            self.assertNotIn(None, polls)
            print(f"polls by node: {polls}, fetches {total}, lost leases {lost}", file=sys.stderr)
            self.assertTrue(all(p > 0 for p in polls), polls)
            self.assertLessEqual(sum(polls), total)
            self.assertGreaterEqual(sum(polls), total - 2 * N)  # at most one in flight each
            self.assertEqual(lost, [0, 0])
            self.assertEqual(psql(pg, "SELECT count(*) FROM entries"), str(N))
            self.assertEqual(psql(pg, "SELECT count(*) FROM sources"
                                      " WHERE polled_node IN ('n1', 'n2')"), str(N))
            states = tbtest.sources_json(nodes[0].config)
            self.assertEqual(len(states), N)
            self.assertTrue(all(s["node"] in ("n1", "n2") for s in states), states[:3])

    def test_stalled_node_is_fenced(self):
        """n1 claims a source whose answer is slow and stalls (SIGSTOP) past its
        lease; n2 claims and polls it; n1's late outcome is refused."""
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            slow = [("slow", f"{up.base}slow?bps=16&bytes=64")]
            n1 = n2 = None
            try:
                n1 = Node(tmp, pg, "n1", slow, interval=3600)
                tbtest.wait_for(lambda: up.requests("/slow"), 30, what="n1's fetch")
                self.assertEqual(psql(pg, "SELECT lease_node FROM sources WHERE name = 'slow'"),
                                 "n1")
                n1.daemon.proc.send_signal(signal.SIGSTOP)
                n2 = Node(tmp, pg, "n2", slow, interval=3600)
                tbtest.wait_for(lambda: psql(pg, "SELECT polled_node FROM sources"
                                                 " WHERE name = 'slow'") == "n2",
                                LEASE + 30, what="n2's poll after n1's lease")
                n1.daemon.proc.send_signal(signal.SIGCONT)
                tbtest.wait_for(lambda: n1.metric("tributary_leases_total",
                                                  '{outcome="lost"}') == 1,
                                30, what="n1's refused outcome")
                self.assertEqual(n1.metric("tributary_node_polls_total", '{node="n1"}'), 0)
                self.assertEqual(psql(pg, "SELECT polled_node FROM sources WHERE name = 'slow'"),
                                 "n2")
                self.assertEqual(len(up.requests("/slow")), 2)
            finally:
                for n in (n1, n2):
                    if n is not None:
                        n.daemon.proc.send_signal(signal.SIGCONT)
                        n.stop()
                up.stop()
            self.assertIn("state not recorded", n1.daemon.log_text())

    def test_killed_node_leaves_its_source(self):
        """n1 is killed (SIGKILL) in the middle of a poll: its source is
        polled by n2 once the lease runs out, and only then."""
        with tbtest.TempDir() as tmp, pgserver.PgServer() as pg:
            www = os.path.join(tmp, "www")
            os.mkdir(www)
            up = tbtest.Upstream(www, os.path.join(tmp, "up.log"))
            hang = [("hang", f"{up.base}hang")]
            n2 = None
            try:
                n1 = Node(tmp, pg, "n1", hang, interval=3600)
                tbtest.wait_for(lambda: up.requests("/hang"), 30, what="n1's fetch")
                until = int(psql(pg, "SELECT lease_until FROM sources WHERE name = 'hang'"))
                n1.daemon.stop(signal.SIGKILL)
                n2 = Node(tmp, pg, "n2", hang, interval=3600)
                tbtest.wait_for(lambda: len(up.requests("/hang")) == 2, LEASE + 30,
                                what="n2's fetch after n1's lease")
                self.assertGreaterEqual(time.time(), until - 1)
                self.assertEqual(psql(pg, "SELECT lease_node FROM sources WHERE name = 'hang'"),
                                 "n2")
            finally:
                if n2 is not None:
                    n2.stop()
                up.stop()


if __name__ == "__main__":
    tbtest.main()
