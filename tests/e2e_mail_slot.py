#!/usr/bin/python3
"""The running `tributary serve` builds the digests at the send slot
([mail] send_at, here the next minute) without being asked, and sends
them over one SMTP connection to a stand-in on loopback (tests/smtpd.py);
a SIGHUP before the slot keeps the subscriptions and the slot, and the
mail goes to the SMTP server the reloaded config names."""
import datetime
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import TempDir, main, wait_for  # noqa: E402
import mailtest  # noqa: E402


class Slot(unittest.TestCase):
    def test_digests_go_out_at_the_slot(self):
        # send_at: the next minute at least 5 s away; confirmed before it.
        now = time.time()
        slot = (int(now) // 60 + 1) * 60
        if slot - now < 5:
            slot += 60
        at = datetime.datetime.fromtimestamp(slot, datetime.timezone.utc).strftime("%H:%M")
        srv, old = mailtest.standin(), mailtest.standin()
        with TempDir() as t:
            site = mailtest.Site(t, f"smtp://127.0.0.1:{old.port}",
                                 f"starttls = no\nsend_at = {at}\n", date=int(now) - 3600)
            try:
                site.subscribe(mailtest.addrs(3))
                d = mailtest.serve(self, site, os.path.join(t, "serve.log"))
                time.sleep(min(2, max(0, slot - time.time() - 2)))
                # A reload keeps the subscriptions and the slot, and sends
                # through the server the new config names.
                with open(site.config, encoding="utf-8") as f:
                    text = f.read()
                with open(site.config, "w", encoding="utf-8") as f:
                    f.write(text.replace(f":{old.port}", f":{srv.port}"))
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: "reloaded" in d.log_text(), 10, step=0.05, what="the reload")
                self.assertEqual(srv.count, 0)  # not before the slot
                wait_for(lambda: srv.count >= 3, slot - time.time() + 30, what="the digests")
                self.assertGreaterEqual(time.time(), slot)
                time.sleep(1)
                self.assertEqual(srv.count, 3)
                self.assertEqual(srv.connections, 1)  # one connection for the three
                for _, to, msg in srv.parsed():
                    self.assertIn("Walrus tusks as sensors", msg.get_body(("plain",)).get_content())
                self.assertEqual(site.outbox(), {1: 3})
                self.assertEqual(old.connections, 0)
                self.assertEqual(d.stop(), 0)
            finally:
                site.stop()
                srv.stop()
                old.stop()


if __name__ == "__main__":
    main()
