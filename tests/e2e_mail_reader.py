#!/usr/bin/python3
"""Issue 11 as a reader meets it, in one run: `tributary serve` with [mail]
and an SMTP recorder on loopback (tests/smtpd.py), papers from loopback
upstreams (e2e_digest's arXiv listings, Hugging Face feed and newsletter).
Subscribe through the site's form, receive the confirmation, confirm with
the page's button, receive a digest from `tributary digest --now` (run
beside the daemon), parse it strictly and check its header fields and
parts (e2e_digest's checks), follow every link of it that points to the
site against the running daemon (each answers 200, and following them
changes nothing: a mail scanner's GETs neither confirm nor unsubscribe),
leave through the List-Unsubscribe header with the RFC 8058 one-click POST,
and get no further mail when a new paper arrives."""
import email
import email.policy
import html.parser
import http.client
import json
import os
import re
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_digest  # noqa: E402
from e2e_digest import config, files, write  # noqa: E402
from tbtest import (Daemon, TempDir, Upstream, free_port, main, need_module,  # noqa: E402
                    need_tool, run, wait_for)

ADDR = "reader@example.org"


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        self.hrefs += [v for k, v in attrs if k == "href"]


class Reader(unittest.TestCase):
    check_message = e2e_digest.Digest.check_message

    def setUp(self):
        need_module("aiosmtpd", "python3-aiosmtpd")
        need_tool("tidy")
        from smtpd import Server
        self.tmp = TempDir()
        self.t = self.tmp.__enter__()
        self.www = os.path.join(self.t, "www")
        os.makedirs(self.www)
        self.now = int(time.time())
        for name, text in files(self.now).items():
            write(os.path.join(self.www, name), text)
        self.up = Upstream(self.www, os.path.join(self.t, "up.log"))
        self.smtp = Server().start()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.conf = os.path.join(self.t, "t.ini")
        text = config(self.t, self.up, self.base, self.smtp.port)
        write(self.conf, text.replace("[tributary]\n",
                                      f"[tributary]\nlisten = 127.0.0.1:{self.port}\n", 1))
        run("fetch", "-c", self.conf)  # the papers, before the daemon starts
        self.d = Daemon(self.conf, os.path.join(self.t, "serve.log"))

        def serving():
            self.assertTrue(self.d.alive(), self.d.log_text()[-3000:])
            try:
                return self.request("GET", "/")[0] == 200
            except OSError:
                return False
        wait_for(serving, 30, what="the daemon serving /")

    def tearDown(self):
        rc = self.d.stop()
        self.smtp.stop()
        self.up.stop()
        log = self.d.log_text()
        self.tmp.__exit__(None, None, None)
        self.assertEqual(rc, 0, log[-3000:])

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = body.encode() if isinstance(body, str) else urllib.parse.urlencode(body).encode()
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, data

    def follow(self, url):
        """GET a link of the mail against the daemon; its status."""
        self.assertTrue(url.startswith(self.base), url)
        return self.request("GET", "/" + url[len(self.base):])[0]

    def state(self):
        subs = json.loads(run("subscribers", "-c", self.conf, "--json").stdout)
        return {s["address"]: s["state"] for s in subs}.get(ADDR)

    def mails(self):
        return [m for _, rcpts, m in self.smtp.messages if ADDR in rcpts]

    def test_subscribe_confirm_digest_leave(self):
        # The form on the front page, as a browser posts it.
        st, page = self.request("GET", "/")
        self.assertIn('action="subscribe"', page)
        st, _ = self.request("POST", "/subscribe", [("email", ADDR), ("topic", "walrus"),
                                                     ("topic", "trending"),
                                                     ("frequency", "daily")])
        self.assertEqual(st, 303)
        wait_for(lambda: len(self.mails()) >= 1, 30, what="the confirmation mail")
        msg = email.message_from_bytes(self.mails()[0], policy=email.policy.strict)
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        text = msg.get_body(("plain",)).get_content()
        link = re.search(re.escape(self.base) + r"confirm\?t=[A-Za-z0-9._-]+", text).group(0)
        self.assertEqual(self.follow(link), 200)  # shows the button, confirms nothing
        self.assertEqual(self.state(), "pending")
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
        st, page = self.request("POST", "/confirm", {"t": token})
        self.assertEqual(st, 200, page)
        self.assertEqual(self.state(), "active")

        # The digest, sent by the command beside the daemon.
        p = run("digest", "-c", self.conf, "--now")
        self.assertIn("1 sent", p.stderr)
        wait_for(lambda: len(self.mails()) >= 2, 30, what="the digest")
        raw = self.mails()[1].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        m, page, text = self.check_message(raw, ADDR)
        self.assertIn("Walrus tusks as sensors", text)
        # Every link to the site answers, and following them changes nothing.
        links = Links()
        links.feed(page)
        urls = set(links.hrefs) | {u.rstrip(">.,)") for u in re.findall(r"https?://\S+", text)}
        site = sorted(u for u in urls if u.startswith(self.base))
        for want in ("unsubscribe?t=", "manage?t=", "topics/walrus.html", "topics/walrus.atom"):
            self.assertTrue(any(want in u for u in site), (want, site))
        for u in site:
            self.assertEqual(self.follow(u), 200, u)
        self.assertEqual(self.state(), "active")
        # The links elsewhere are the papers' and their sources' pages; this
        # machine has no internet, so e2e_digest checks they are the expected ones.

        # RFC 8058: a POST of List-Unsubscribe=One-Click to the header's URL.
        unsub = re.fullmatch(r"<(.*)>", str(m["List-Unsubscribe"])).group(1)
        st, page = self.request("POST", "/" + unsub[len(self.base):],
                                "List-Unsubscribe=One-Click")
        self.assertEqual(st, 200, page)
        self.assertEqual(self.state(), "left")

        # A new paper arrives: no further mail to this address.
        time.sleep(1.1)
        later = [("2501.00009", "A later walrus paper")]
        for name, body in files(self.now, later, int(time.time())).items():
            write(os.path.join(self.www, name), body)
        run("fetch", "-c", self.conf)
        time.sleep(1.1)
        p = run("digest", "-c", self.conf, "--now")
        self.assertIn("0 queued, 0 sent", p.stderr)
        time.sleep(2)
        self.assertEqual(len(self.mails()), 2)


if __name__ == "__main__":
    main()
