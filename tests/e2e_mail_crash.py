#!/usr/bin/python3
"""`tributary serve` sending digests through an SMTP stand-in on loopback
(tests/smtpd.py) is killed: 20 SIGKILLs at random moments while 500
digests go out lose none and send none twice outside the documented
window (the kill falling between the server's 250 and the outbox record:
the figure is printed); SIGTERM lets the message being sent finish and
starts no other."""
import collections
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import SLOW, TempDir, main, wait_for  # noqa: E402
import mailtest  # noqa: E402


class Crash(unittest.TestCase):
    def test_sigkill_20_times_during_500_digests(self):
        # 20 ms to answer each RCPT TO: the sending lasts long enough for 20
        # kills. The end of DATA is answered at once, so the window for a
        # duplicate is ours: from the 250 to the outbox record.
        srv = mailtest.standin(rcpt_delay=0.02)
        rnd = random.Random(int(os.environ.get("TB_SEED", "11")))
        n, kills = 500, 20
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}",
                                 "starttls = no\nrate = 100000/min\n")
            try:
                site.subscribe(mailtest.addrs(n))
                site.make_due()
                log = os.path.join(t, "serve.log")
                done = 0
                for _ in range(kills):
                    d = mailtest.serve(self, site, log)
                    before = srv.count
                    time.sleep(rnd.uniform(0.1, 1.5) * SLOW)
                    d.stop(signal.SIGKILL)
                    done += 1
                    print(f"kill {done}: {srv.count - before} accepted during this run",
                          file=sys.stderr)
                d = mailtest.serve(self, site, log)
                wait_for(lambda: site.outbox().get(0, 0) == 0 and srv.count >= n, 300,
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
        srv = mailtest.standin(delay=2.0)
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}", "starttls = no\n")
            try:
                site.subscribe(mailtest.addrs(3))
                site.make_due()
                d = mailtest.serve(self, site, os.path.join(t, "serve.log"))
                wait_for(lambda: srv.data_ends >= 1, 30, step=0.05, what="a message in flight")
                # A reload while the sender reads the config (it keeps the
                # old one until its message is over), then the stop.
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: "reloaded" in d.log_text(), 10, step=0.05, what="the reload")
                t0 = time.monotonic()
                self.assertEqual(d.stop(signal.SIGTERM), 0)
                self.assertGreater(time.monotonic() - t0, 1.0)  # it waited for the 250
                self.assertEqual(srv.count, 1)
                self.assertEqual(srv.data_ends, 1)  # and started no other
                self.assertEqual(site.outbox(), {0: 2, 1: 1})
                srv.delay = 0
                d = mailtest.serve(self, site, os.path.join(t, "serve.log"))
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
