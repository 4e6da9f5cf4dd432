#!/usr/bin/python3
"""`tributary serve` delivers the email digests through an SMTP stand-in
on loopback (tests/smtpd.py, Debian's python3-aiosmtpd, counting
connections and scripting replies): a 451 is retried and the message
arrives once; a 550 three digests in a row suspends the subscription and
no more mail goes out; /metrics counts the outbox without naming an
address. (The send slot: e2e_mail_slot.py; kills: e2e_mail_crash.py; a
real MTA: e2e_mail_mta.py.)"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import TempDir, http_get, main, run, wait_for  # noqa: E402
import mailtest  # noqa: E402


class Delivery(unittest.TestCase):
    def test_451_then_250_delivers_once(self):
        srv = mailtest.standin(data=["451 4.3.0 try again later"])
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}", "starttls = no\n")
            try:
                site.subscribe(["walrus.fan@example.org"])
                site.make_due()
                d = mailtest.serve(self, site, os.path.join(t, "serve.log"))
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
        srv = mailtest.standin(rcpt=["550 5.1.1 mailbox unavailable"] * 10)
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{srv.port}", "starttls = no\n")
            try:
                site.subscribe(["gone@example.org", "kept@example.org"])
                for k in range(3):
                    if k:  # a new paper, so that the next digest has something
                        mailtest.write_papers(site.www, mailtest.PAPERS + [
                            (f"2501.1000{k}", f"Walrus paper number {k}")], int(time.time()))
                        run("fetch", "-c", site.config)
                    # Only gone@ is refused: kept@'s RCPT comes second.
                    srv.rcpt_replies.clear()
                    srv.rcpt_replies.extend(["550 5.1.1 mailbox unavailable"])
                    p = run("digest", "-c", site.config, "--now", check=False)
                    self.assertNotEqual(p.returncode, 0, p.stderr)
                    time.sleep(1.1)  # a later digest time: a new Message-ID
                s = mailtest.subscriber(site, "gone@example.org")
                self.assertEqual(s["state"], "suspended", s)
                self.assertEqual(srv.count, 3)  # kept@'s three digests
                # Suspended: neither a new digest nor the daemon mails it.
                mailtest.write_papers(site.www, mailtest.PAPERS + [("2501.10009", "Late walrus")],
                                      int(time.time()))
                run("fetch", "-c", site.config)
                srv.rcpt_replies.clear()
                rcpts = srv.rcpts
                run("digest", "-c", site.config, "--now")
                self.assertEqual(srv.rcpts, rcpts + 1)
                self.assertEqual([to for _, to, _ in srv.parsed()][-1], ["kept@example.org"])
                d = mailtest.serve(self, site, os.path.join(t, "serve.log"))
                time.sleep(3)
                self.assertEqual(srv.rcpts, rcpts + 1)
                self.assertEqual(d.stop(), 0)
            finally:
                site.stop()
                srv.stop()


if __name__ == "__main__":
    main()
