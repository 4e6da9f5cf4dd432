"""Subscribing from the site, end to end: `tributary serve` with [mail]
pointing at an aiosmtpd recorder on loopback (tests/smtpd.py). Subscribe
through the form's fields, receive the confirmation (parsed under
email.policy.strict), GET the confirm link (nothing changes), POST its
button (active); the same answer for a known and an unknown address;
tampered, wrong-action and expired tokens change nothing; CR/LF and other
bad addresses send nothing; mail bombing is capped per address and per
client; RFC 8058 one-click unsubscribe; a 413 for an oversize body; the
manage page. The pages pass `tidy -e`, and headless Chromium renders the
front page, the confirm page and the manage page at 390 and 1280 px
(screenshots kept next to the binary: subscribe-*.png).
"""
import base64
import email
import email.policy
import hashlib
import hmac
import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import (BIN, Daemon, TempDir, free_port, main, need_module, need_tool,  # noqa: E402
                    run, wait_for)

CONFIRM_PER_DAY = 3  # TB_SUBS_CONFIRM_PER_DAY in include/tb_subs.h
PER_CLIENT = 10  # TB_MAIL_WEB_PER_CLIENT in include/tb_mail_web.h
BODY_MAX = 16 * 1024  # TB_HTTP_BODY_MAX in include/tb_http.h
ACTIVE, LEFT, PENDING = "active", "left", "pending"  # `subscribers --json` states

CONFIG = """[tributary]
database = {t}/db.sqlite
public_dir = {t}/pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/
title = Morning papers

[topic attention]
title = Attention
query = attention

[topic vision]
title = Vision
query = vision

[mail]
smtp = smtp://127.0.0.1:{smtp}
starttls = no
from = tributary <papers@example.org>
"""


def request(port, method, path, body=None, ctype="application/x-www-form-urlencoded",
            source="127.0.0.1"):
    """One request from `source` (a loopback address: each part of the test
    comes from its own client); (status, headers dict, body text). No redirect
    is followed."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(source, 0))
    headers = {}
    if body is not None:
        if isinstance(body, (list, dict)):
            body = urllib.parse.urlencode(body)
        if isinstance(body, str):
            body = body.encode()
        headers["Content-Type"] = ctype
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    h = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, h, data


def tidy_errors(html, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)
    p = subprocess.run(["tidy", "-e", "-q", path], capture_output=True, text=True)
    return [line for line in p.stderr.splitlines() if "Error:" in line]


def chromium(url, profile, *args):
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class Subscribe(unittest.TestCase):
    def setUp(self):
        need_module("aiosmtpd", "python3-aiosmtpd")
        from smtpd import Server
        self.tmp = TempDir()
        self.t = self.tmp.__enter__()
        self.smtp = Server().start()
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}/"
        self.conf = os.path.join(self.t, "t.ini")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(CONFIG.format(t=self.t, port=self.port, smtp=self.smtp.port))
        self.d = Daemon(self.conf, os.path.join(self.t, "serve.log"))

        def serving():
            self.assertTrue(self.d.alive(), self.d.log_text()[-3000:])
            try:
                return self.get("/")[0] == 200
            except OSError:
                return False
        wait_for(serving, 30, what="the daemon serving /")

    def tearDown(self):
        rc = self.d.stop()
        self.smtp.stop()
        log = self.d.log_text()
        self.tmp.__exit__(None, None, None)
        self.assertEqual(rc, 0, log[-3000:])

    # ------------------------------------------------------------ helpers
    def get(self, path, source="127.0.0.1"):
        return request(self.port, "GET", path, source=source)

    def post(self, path, body, source="127.0.0.1", ctype="application/x-www-form-urlencoded"):
        return request(self.port, "POST", path, body, ctype=ctype, source=source)

    def subscribe(self, addr, topics=("attention",), freq="daily", source="127.0.0.2"):
        fields = [("email", addr)] + [("topic", t) for t in topics] + [("frequency", freq)]
        return self.post("/subscribe", fields, source=source)

    def db(self):
        c = sqlite3.connect(os.path.join(self.t, "db.sqlite"), timeout=10)
        c.row_factory = sqlite3.Row
        return c

    def sub(self, addr):
        """(state, frequency, topics, pending topics) of addr's subscription as
        `tributary subscribers --json` shows it, or None."""
        out = run("subscribers", "-c", self.conf, "--json").stdout
        for s in json.loads(out):
            if s["address"] == addr:
                return s["state"], s["frequency"], s["topics"], s["pending_topics"]
        return None

    def mails_to(self, addr):
        return [m for _, rcpts, m in self.smtp.messages if addr in rcpts]

    def wait_mails(self, addr, n):
        wait_for(lambda: len(self.mails_to(addr)) >= n, 30, what=f"{n} mail(s) to {addr}")
        return self.mails_to(addr)

    def secret(self):
        with open(os.path.join(self.t, "db.sqlite.secret")) as f:
            return bytes.fromhex(f.read().strip())

    def token(self, action, sid, addr, expires):
        """A token made as tb_mail_token_make() makes it (include/tb_mail.h)."""
        msg = f"{action}.{sid}.{expires}.{addr}".encode()
        mac = hmac.new(self.secret(), msg, hashlib.sha256).digest()
        return f"{action}.{sid}.{expires}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def confirm_link(self, raw):
        """The /confirm link of a confirmation mail, parsed under the strict policy."""
        msg = email.message_from_bytes(raw, policy=email.policy.strict)
        text = msg.get_body(("plain",)).get_content()
        m = re.search(re.escape(self.root) + r"confirm\?t=([A-Za-z0-9._-]+)", text)
        self.assertIsNotNone(m, text)
        return m.group(1), msg

    # -------------------------------------------------------------- tests
    def test_flow(self):
        addr = "reader@example.org"
        st, h, body = self.subscribe(addr, ("attention", "trending", "nosuchtopic"), "weekly")
        self.assertEqual(st, 303, body)
        self.assertEqual(h["location"], "subscribe?sent=1")
        self.assertEqual(h["cache-control"], "no-store")
        self.assertEqual(h["referrer-policy"], "no-referrer")
        st, h, inbox = self.get("/subscribe?sent=1")
        self.assertEqual(st, 200)
        self.assertIn("Check your inbox", inbox)
        self.assertNotIn(addr, inbox)
        raw = self.wait_mails(addr, 1)[0]
        token, msg = self.confirm_link(raw)
        self.assertEqual(msg["To"].addresses[0].addr_spec, addr)
        self.assertTrue(token.startswith("c."))
        self.assertEqual(self.sub(addr)[0], PENDING)
        self.assertEqual(self.sub(addr)[3], ["attention", "trending"])
        # GET shows a button and changes nothing (mail scanners follow links).
        for _ in range(2):
            st, h, page = self.get("/confirm?t=" + token)
            self.assertEqual(st, 200)
            self.assertIn('<form class="notice" method="post" action="confirm">', page)
            self.assertIn(f'<input type="hidden" name="t" value="{token}">', page)
            self.assertIn("r***@example.org", page)
            self.assertNotIn(addr, page)
            self.assertEqual(h["cache-control"], "no-store")
            self.assertEqual(h["referrer-policy"], "no-referrer")
            self.assertIn("frame-ancestors 'none'", h["content-security-policy"])
        self.assertEqual(self.sub(addr)[0], PENDING)
        # Tokens that must not work: tampered, another action, expired, another id.
        sid = int(token.split(".")[1])
        bad = [token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
               "m" + token[1:], "u" + token[1:],
               self.token("c", sid, addr, int(time.time()) - 10),
               self.token("c", sid + 1, addr, int(time.time()) + 3600),
               self.token("c", sid, "other@example.org", int(time.time()) + 3600),
               "", "c.1", "x" * 200]
        for b in bad:
            st, _, page = self.post("/confirm", {"t": b})
            self.assertIn(st, (400, 410), b)
            self.assertNotIn("You are subscribed", page)
            self.assertEqual(self.sub(addr)[0], PENDING, b)
        st, _, page = self.post("/confirm", {"t": bad[3]})
        self.assertEqual(st, 410)
        self.assertIn("expired", page)
        # The button confirms.
        st, _, page = self.post("/confirm", {"t": token})
        self.assertEqual(st, 200, page)
        self.assertIn("You are subscribed", page)
        self.assertEqual(self.sub(addr)[:3], (ACTIVE, "weekly", ["attention", "trending"]))
        manage = re.search(r'href="(manage\?t=[^"]+)"', page).group(1)
        # The manage page: checkboxes as subscribed, save changes, then the one-click leave.
        st, _, page = self.get("/" + manage)
        self.assertEqual(st, 200)
        self.assertIn('name="topic" value="attention" checked>', page)
        self.assertIn('name="topic" value="vision">', page)
        self.assertIn('name="frequency" value="weekly" checked>', page)
        mtoken = urllib.parse.unquote(manage.split("t=", 1)[1])
        st, _, page = self.post("/manage", [("t", mtoken), ("topic", "vision"),
                                            ("frequency", "daily"), ("action", "save")])
        self.assertEqual(st, 200, page)
        self.assertIn("Your changes are saved.", page)
        self.assertEqual(self.sub(addr)[:3], (ACTIVE, "daily", ["vision"]))
        st, _, page = self.post("/manage", [("t", mtoken), ("frequency", "daily")])
        self.assertEqual(st, 400)  # no topic: nothing changes
        self.assertEqual(self.sub(addr)[:3], (ACTIVE, "daily", ["vision"]))
        st, _, _ = self.post("/manage", [("t", token), ("topic", "attention")])
        self.assertEqual(st, 400)  # a confirm token does not manage
        self.assertEqual(self.sub(addr)[2], ["vision"])
        # Unsubscribe: GET shows a button; a manage or confirm token does not leave.
        utoken = self.token("u", sid, addr, 0)
        st, _, page = self.get("/unsubscribe?t=" + utoken)
        self.assertEqual(st, 200)
        self.assertIn('<button type="submit">Unsubscribe</button>', page)
        self.assertEqual(self.sub(addr)[0], ACTIVE)
        for b in (mtoken, token, "u" + utoken[1:-1]):
            st, _, _ = self.post("/unsubscribe?t=" + urllib.parse.quote(b),
                                 "List-Unsubscribe=One-Click")
            self.assertEqual(st, 400)
            self.assertEqual(self.sub(addr)[0], ACTIVE)
        # RFC 8058: POST to the List-Unsubscribe URL with the one-click body.
        st, _, page = self.post("/unsubscribe?t=" + utoken, "List-Unsubscribe=One-Click")
        self.assertEqual(st, 200, page)
        self.assertIn("You have left", page)
        self.assertEqual(self.sub(addr)[0], LEFT)
        st, _, _ = self.post("/unsubscribe?t=" + utoken, "List-Unsubscribe=One-Click")
        self.assertEqual(st, 200)  # again: still left, still 200
        # The confirm link of before no longer subscribes a subscription that left.
        st, _, _ = self.post("/confirm", {"t": token})
        self.assertEqual(st, 410)
        self.assertEqual(self.sub(addr)[0], LEFT)
        log = self.d.log_text()
        self.assertNotIn(addr, log)
        self.assertIn("r***@example.org", log)

    def test_same_answer(self):
        known = "known@example.org"
        self.assertEqual(self.subscribe(known)[0], 303)
        self.wait_mails(known, 1)
        answers = []
        for addr in (known, "unknown@example.org"):
            st, h, body = self.subscribe(addr, source="127.0.0.3")
            answers.append((st, h.get("location"), body, h.get("content-length")))
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0][0], 303)

    def test_bad_addresses(self):
        bad = ["a@b.org\r\nBcc: x@y.org", "a@b.org\nBcc: x@y.org", "a@b.org\rBcc:x@y.org",
               "x@y.org, z@y.org", "<x@y.org>", "no-at-sign", "a@b", "a@[127.0.0.1]",
               "\"q\"@b.org", "a b@c.org", "é@b.org", "a@b.org\x00", "a" * 65 + "@b.org",
               "a@" + "b" * 250 + ".org", ""]
        for i, addr in enumerate(bad):
            st, _, page = self.subscribe(addr, source="127.0.1.%d" % (i + 1))
            self.assertEqual(st, 400, repr(addr))
            self.assertIn("not an email address", page)
            self.assertNotIn("Bcc", page)
        st, _, page = self.subscribe("fine@example.org", ("nosuchtopic",), source="127.0.2.1")
        self.assertEqual(st, 400)
        self.assertIn("Choose at least one topic", page)
        st, _, _ = self.subscribe("fine@example.org", ("vision",), "hourly", source="127.0.2.1")
        self.assertEqual(st, 400)
        st, _, _ = self.post("/subscribe", '{"email": "fine@example.org"}', source="127.0.2.1",
                             ctype="application/json")
        self.assertEqual(st, 415)
        # Oversize bodies: 413, and the daemon serves on.
        big = "email=a%40b.org&topic=vision&x=" + "y" * BODY_MAX
        try:
            st, _, _ = self.post("/subscribe", big, source="127.0.2.2")
        except (ConnectionError, http.client.HTTPException):
            st = 413  # closed before the whole body was sent: h2o answered and closed
        self.assertEqual(st, 413)
        self.assertEqual(self.get("/")[0], 200)
        time.sleep(1.5)  # the sender had time to send anything queued
        self.assertEqual(len(self.smtp.messages), 0)
        self.assertEqual(json.loads(run("subscribers", "-c", self.conf, "--json").stdout), [])
        with self.db() as c:
            self.assertEqual(c.execute("SELECT count(*) FROM outbox").fetchone()[0], 0)

    def test_mail_bombing(self):
        victim = "victim@example.org"
        for i in range(8):  # 8 clients, 8 requests for one address
            st, _, _ = self.subscribe(victim, source="127.0.3.%d" % (i + 1))
            self.assertEqual(st, 303)
            if i < CONFIRM_PER_DAY:
                # A confirmation's Message-ID names its second: one a second at most is queued.
                time.sleep(1.1)
        wait_for(lambda: len(self.mails_to(victim)) >= CONFIRM_PER_DAY, 30, what="the cap")
        time.sleep(1.5)
        self.assertEqual(len(self.mails_to(victim)), CONFIRM_PER_DAY)
        # One client, many addresses: PER_CLIENT requests, then 429 with Retry-After.
        statuses = []
        for i in range(PER_CLIENT + 3):
            st, h, _ = self.subscribe(f"person{i}@example.org", source="127.0.4.1")
            statuses.append(st)
        self.assertEqual(statuses, [303] * PER_CLIENT + [429] * 3)
        self.assertEqual(h["retry-after"], "3600")
        wait_for(lambda: len(self.smtp.messages) >= CONFIRM_PER_DAY + PER_CLIENT, 30,
                 what="the client's mails")
        time.sleep(1.5)
        self.assertEqual(len(self.smtp.messages), CONFIRM_PER_DAY + PER_CLIENT)
        self.assertEqual(self.subscribe("another@example.org", source="127.0.4.2")[0], 303)

    def test_pages(self):
        need_tool("tidy")
        need_tool("chromium")
        addr = "pages@example.org"
        self.assertEqual(self.subscribe(addr, ("vision",))[0], 303)
        token, _ = self.confirm_link(self.wait_mails(addr, 1)[0])
        sid = int(token.split(".")[1])
        mtoken = self.token("m", sid, addr, 0)
        utoken = self.token("u", sid, addr, 0)
        st, _, front = self.get("/")
        self.assertIn("Get trending papers in your email inbox", front)
        self.assertIn('<input id="mail-email" name="email" type="email" required '
                      'autocomplete="email"', front)
        topic = self.get("/topics/vision.html")[2]
        self.assertIn('<input type="hidden" name="topic" value="vision">', topic)
        self.assertIn('action="../subscribe"', topic)
        pages = {"front": "/", "topic": "/topics/vision.html", "confirm": "/confirm?t=" + token,
                 "unsubscribe": "/unsubscribe?t=" + utoken, "manage": "/manage?t=" + mtoken,
                 "subscribe": "/subscribe", "inbox": "/subscribe?sent=1",
                 "bad-token": "/confirm?t=c.1.2.x"}
        for name, path in pages.items():
            st, _, html = self.get(path)
            self.assertIn(st, (200, 400), name)
            self.assertEqual(tidy_errors(html, os.path.join(self.t, name + ".html")), [], name)
            self.assertNotIn("<script", html)
        # Chromium: the DOM has the forms; screenshots for a person to look at.
        shots = os.path.dirname(os.path.abspath(BIN))
        for name in ("front", "confirm", "manage"):
            if name == "manage":  # as a subscriber sees it: confirmed, its topic checked
                self.assertEqual(self.sub(addr)[0], PENDING)  # looking changed nothing
                self.assertEqual(self.post("/confirm", {"t": token})[0], 200)
                self.assertIn('value="vision" checked>', self.get(pages[name])[2])
            url = self.root + pages[name].lstrip("/")
            p = chromium(url, os.path.join(self.t, "chrome-" + name), "--dump-dom")
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            self.assertIn("<form", p.stdout)
            self.assertNotIn("<script", p.stdout)
            for width in (390, 1280):
                shot = os.path.join(shots, f"subscribe-{name}-{width}.png")
                p = chromium(url, os.path.join(self.t, "chrome-" + name), f"--screenshot={shot}",
                             f"--window-size={width},1200", "--hide-scrollbars")
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                self.assertGreater(os.path.getsize(shot), 1000)
            shot = os.path.join(shots, f"subscribe-{name}-390-dark.png")
            p = chromium(url, os.path.join(self.t, "chrome-" + name), f"--screenshot={shot}",
                         "--window-size=390,1200", "--hide-scrollbars", "--force-dark-mode",
                         "--blink-settings=preferredColorScheme=0")
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(self.sub(addr)[0], ACTIVE)  # looking at the manage page changed nothing
        print(f"screenshots: {shots}/subscribe-*.png", file=sys.stderr)


if __name__ == "__main__":
    main()
