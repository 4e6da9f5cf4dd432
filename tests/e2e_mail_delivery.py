#!/usr/bin/python3
"""`tributary serve` delivers the email digests through an SMTP stand-in
on loopback (tests/smtpd.py, Debian's python3-aiosmtpd, counting
connections and scripting replies): a 451 is retried and the message
arrives once; a 550 three digests in a row suspends the subscription and
no more mail goes out; 20 SIGKILLs at random moments while 500 digests go
out lose none and send none twice outside the documented window (the kill
falling between the server's 250 and the outbox record); SIGTERM lets the
message being sent finish and starts no other; /metrics counts the
outbox without naming an address."""
import collections
import json
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import (SLOW, Daemon, TempDir, http_get, main, need_module, run,  # noqa: E402
                    wait_for)
import mailtest  # noqa: E402


def standin(**kw):
    need_module("aiosmtpd", "python3-aiosmtpd")
    import smtpd
    return smtpd.Server(**kw).start()


def addrs(n):
    return [f"reader{i}@example.org" for i in range(n)]


def subscriber(site, addr):
    for s in json.loads(run("subscribers", "-c", site.config, "--json").stdout):
        if s.get("address", s.get("addr")) == addr:
            return s
    return None


class Delivery(unittest.TestCase):
    def test_451_then_250_delivers_once(self):
        srv = standin(data=["451 4.3.0 try again later"])
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}", "starttls = no\n")
            try:
                site.subscribe(["walrus.fan@example.org"])
                site.make_due()
                d = Daemon(site.config, os.path.join(t, "serve.log"))
                wait_for(lambda: srv.data_ends >= 1, 30, what="the first attempt")
                self.assertEqual(srv.count, 0)
                # Retried after the outbox's first backoff (60 s).
                wait_for(lambda: srv.count >= 1, 120, what="the retry")
                time.sleep(2)
                self.assertEqual(srv.count, 1)
                self.assertEqual(srv.data_ends, 2)
                _, to, msg = srv.parsed()[0]
                self.assertEqual(to, ["walrus.fan@example.org"])
                self.assertTrue(msg["Message-ID"])
                self.assertEqual(site.outbox(), {1: 1})
                status, _, body = http_get(f"http://127.0.0.1:{site.port}/metrics")
                self.assertEqual(status, 200)
                text = body.decode()
                self.assertIn('tributary_mail_messages_total{outcome="sent"} 1', text)
                self.assertIn("tributary_mail_outbox 0", text)
                self.assertNotIn("@", text)
                self.assertNotIn("walrus.fan", d.log_text())
                self.assertEqual(d.stop(), 0)
            finally:
                site.stop()
                srv.stop()

    def test_550_three_digests_suspends(self):
        srv = standin(rcpt=["550 5.1.1 mailbox unavailable"] * 10)
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}", "starttls = no\n")
            try:
                site.subscribe(["gone@example.org", "kept@example.org"])
                for k in range(3):
                    if k:  # a new paper, so that the next digest has something
                        mailtest.write_papers(site.www, mailtest.PAPERS + [
                            (f"2501.1000{k}", f"Walrus paper number {k}")])
                        run("fetch", "-c", site.config)
                    # Only gone@ is refused: kept@'s RCPT comes second.
                    srv.rcpt_replies.clear()
                    srv.rcpt_replies.extend(["550 5.1.1 mailbox unavailable"])
                    p = run("digest", "-c", site.config, "--now", check=False)
                    self.assertNotEqual(p.returncode, 0, p.stderr)
                    time.sleep(1.1)  # a later digest time: a new Message-ID
                s = subscriber(site, "gone@example.org")
                self.assertEqual(s["state"], "suspended", s)
                self.assertEqual(srv.count, 3)  # kept@'s three digests
                # Suspended: neither a new digest nor the daemon mails it.
                mailtest.write_papers(site.www, mailtest.PAPERS + [("2501.10009", "Late walrus")])
                run("fetch", "-c", site.config)
                srv.rcpt_replies.clear()
                rcpts = srv.rcpts
                run("digest", "-c", site.config, "--now")
                self.assertEqual(srv.rcpts, rcpts + 1)
                self.assertEqual([to for _, to, _ in srv.parsed()][-1], ["kept@example.org"])
                d = Daemon(site.config, os.path.join(t, "serve.log"))
                time.sleep(3)
                self.assertEqual(srv.rcpts, rcpts + 1)
                self.assertEqual(d.stop(), 0)
            finally:
                site.stop()
                srv.stop()

    def test_sigkill_20_times_during_500_digests(self):
        # 20 ms to take each message: the sending lasts long enough for 20
        # kills. A client killed during those 20 ms gets no 250 and the
        # stand-in keeps nothing (tests/smtpd.py), as a real server would.
        srv = standin(delay=0.02)
        rnd = random.Random(int(os.environ.get("TB_SEED", "11")))
        n, kills = 500, 20
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}",
                                 "starttls = no\nrate = 100000/min\n")
            try:
                site.subscribe(addrs(n))
                site.make_due()
                log = os.path.join(t, "serve.log")
                done = 0
                for _ in range(kills):
                    d = Daemon(site.config, log)
                    before = srv.count
                    time.sleep(rnd.uniform(0.1, 1.5) * SLOW)
                    d.stop(signal.SIGKILL)
                    done += 1
                    print(f"kill {done}: {srv.count - before} accepted during this run",
                          file=sys.stderr)
                d = Daemon(site.config, log)
                wait_for(lambda: site.outbox().get(0, 1) == 0 and srv.count >= n, 300,
                         what="the outbox to empty")
                time.sleep(1)
                self.assertEqual(d.stop(), 0)
                ids = srv.message_ids()
                per_rcpt = collections.defaultdict(set)
                for (_, to, _), mid in zip(srv.parsed(), ids):
                    per_rcpt[tuple(to)].add(mid)
                dups = len(ids) - len(set(ids))
                print(f"500 digests, {kills} SIGKILLs: {len(ids)} messages accepted, "
                      f"{len(set(ids))} distinct, {dups} sent twice "
                      f"({srv.connections} connections)", file=sys.stderr)
                self.assertEqual(len(per_rcpt), n)  # nobody lost
                self.assertTrue(all(len(v) == 1 for v in per_rcpt.values()))  # one digest each
                self.assertEqual(len(set(ids)), n)
                self.assertLessEqual(dups, kills)
                self.assertEqual(site.outbox(), {1: n})
            finally:
                site.stop()
                srv.stop()

    def test_sigterm_finishes_the_message_in_flight(self):
        srv = standin(delay=2.0)
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}", "starttls = no\n")
            try:
                site.subscribe(addrs(3))
                site.make_due()
                d = Daemon(site.config, os.path.join(t, "serve.log"))
                wait_for(lambda: srv.data_ends >= 1, 30, step=0.05, what="a message in flight")
                t0 = time.monotonic()
                self.assertEqual(d.stop(signal.SIGTERM), 0)
                self.assertGreater(time.monotonic() - t0, 1.0)  # it waited for the 250
                self.assertEqual(srv.count, 1)
                self.assertEqual(srv.data_ends, 1)  # and started no other
                self.assertEqual(site.outbox(), {0: 2, 1: 1})
                srv.delay = 0
                d = Daemon(site.config, os.path.join(t, "serve.log"))
                wait_for(lambda: srv.count >= 3, 30, what="the two others")
                time.sleep(1)
                self.assertEqual(d.stop(), 0)
                ids = srv.message_ids()
                self.assertEqual(len(ids), 3)
                self.assertEqual(len(set(ids)), 3)
                self.assertEqual(site.outbox(), {1: 3})
            finally:
                site.stop()
                srv.stop()


if __name__ == "__main__":
    main()
