#!/usr/bin/python3
"""Two `tributary serve` nodes on one PostgreSQL (tests/pgserver.py) with
[mail] pointing at one SMTP stand-in (tests/smtpd.py): the digests due are
built by one node (the job `digests`, tb_jobs.h) and each outbox message is
claimed by one node (tb_subs_claim), so every subscriber gets its digest
exactly once, by the server's own record of what it accepted."""
import collections
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mailtest  # noqa: E402
import pgserver  # noqa: E402
from pgserver import psql  # noqa: E402
import tbtest  # noqa: E402
from tbtest import Daemon, TempDir, Upstream, free_port, main, run, wait_for  # noqa: E402

N = 60  # subscribers


def write_config(t, pg, up, smtp_port, name):
    port = free_port()
    path = os.path.join(t, f"{name}.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""[tributary]
database = {pg.uri}
public_dir = {os.path.join(t, "pub-" + name)}
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:8080/
node = {name}
lease = 30s

[trending]
resolve_arxiv = no

[source arxiv-cs-cl]
url = {up.base}cl.rss
group = arxiv

[source arxiv-cs-lg]
url = {up.base}lg.rss
group = arxiv

[topic walrus]
title = Walrus papers
query = walruses

[mail]
smtp = smtp://127.0.0.1:{smtp_port}
from = tributary <papers@example.org>
send_at = 00:00
starttls = no
rate = 100000/min
""")
    return path


class ClusterMail(unittest.TestCase):
    def test_two_nodes_send_each_digest_once(self):
        # A slow RCPT TO keeps both nodes' senders busy at the same time.
        srv = mailtest.standin(rcpt_delay=0.02)
        with TempDir() as t, pgserver.PgServer() as pg:
            www = os.path.join(t, "www")
            os.makedirs(www)
            mailtest.write_papers(www, mailtest.PAPERS)
            up = Upstream(www, os.path.join(t, "up.log"))
            daemons = []
            try:
                cfgs = [write_config(t, pg, up, srv.port, n) for n in ("n1", "n2")]
                run("fetch", "-c", cfgs[0])
                for a in mailtest.addrs(N):
                    run("subscribe", "-c", cfgs[0], a, "trending")
                psql(pg, "UPDATE subscriptions SET created = created - 259200,"
                         " confirmed = confirmed - 259200")
                for i, c in enumerate(cfgs):
                    d = Daemon(c, os.path.join(t, f"n{i + 1}.log"))
                    self.addCleanup(lambda d=d: d.alive() and d.stop(9))
                    daemons.append(d)
                wait_for(lambda: srv.count >= N, 120, what=f"{N} digests accepted")
                time.sleep(3)  # anything sent twice would arrive by now
                ids = srv.message_ids()
                twice = [m for m, k in collections.Counter(ids).items() if k > 1]
                self.assertEqual(twice, [])
                self.assertEqual(len(ids), N)
                rcpts = sorted(r for _, to, _ in srv.messages for r in to)
                self.assertEqual(rcpts, sorted(mailtest.addrs(N)))
                self.assertEqual(psql(pg, "SELECT count(*) FROM outbox WHERE state = 1"), str(N))
                # One node built the slot's digests; the outbox was shared.
                self.assertEqual(psql(pg, "SELECT count(*) FROM jobs WHERE name = 'digests'"
                                          " AND runs >= 1"), "1")
                by = psql(pg, "SELECT claim_token, count(*) FROM outbox GROUP BY claim_token")
                print(f"outbox claim tokens (token|messages): {by.split()}", file=sys.stderr)
                self.assertEqual(by, f"1|{N}")
                for d in daemons:
                    self.assertEqual(d.stop(), 0)
                sent = [sum(int(n) for n in re.findall(r"(\d+) sent, \d+ deferred", d.log_text()))
                        for d in daemons]
                print(f"sent by node (from their logs): n1 {sent[0]}, n2 {sent[1]}",
                      file=sys.stderr)
                self.assertEqual(sum(sent), N)
            finally:
                up.stop()
                up.proc.stdout.close()
                srv.stop()


if __name__ == "__main__":
    main()
