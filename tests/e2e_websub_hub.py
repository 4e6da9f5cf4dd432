#!/usr/bin/python3
"""End-to-end tests of tributary as a WebSub hub (README "WebSub").

One upstream (tests/upstream.py) serves a feed the daemon polls every
second; a subscriber server run by the test (http.server on loopback, one
callback path per behaviour) subscribes at /websub. The daemon runs with
allow_private = yes (everything here is loopback), lease_min 2s, lease 1d,
lease_max 2d, and TB_WEBSUB_RETRY_MS=300 (test-only: the first retry wait).
The numbered tests run in order and share the daemon; test_09 starts a
second daemon with the defaults (allow_private off).
"""
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402

SECRET = "s3cr3t-\u00e9-value"


def atom(n):
    """The upstream feed with n entries about graphs (the topic's word)."""
    items = "".join(
        f"<entry><id>urn:g:{i}</id><title>Graph paper {i}</title>"
        f"<updated>2024-01-{i + 1:02d}T00:00:00Z</updated>"
        f"<link href='https://example.org/g{i}'/><summary>graph {i}</summary></entry>"
        for i in range(n))
    return ("<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            "<id>urn:feed:g</id><title>g</title><updated>2024-02-01T00:00:00Z</updated>"
            f"{items}</feed>")


class Subscriber:
    """Callbacks at /cb/NAME. Behaviour by NAME's prefix: "noecho" answers a
    verification with something else than the challenge; "fail" verifies
    but answers every delivery 500; anything else echoes and takes 2xx.
    Every request is recorded with its arrival time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.log = []
        self.failing = set()  # names whose deliveries get 500 for now
        self.holding = set()  # names whose verifications wait for self.release
        self.release = threading.Event()
        sub = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body=b""):
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the daemon stopped waiting (a test's end)
                    self.close_connection = True

            def record(self, body=b""):
                u = urllib.parse.urlsplit(self.path)
                rec = {"method": self.command, "name": u.path.split("/")[-1],
                       "query": dict(urllib.parse.parse_qsl(u.query)),
                       "headers": dict(self.headers.items()), "body": body,
                       "at": time.monotonic()}
                with sub.lock:
                    sub.log.append(rec)
                return rec

            def do_GET(self):
                rec = self.record()
                ch = rec["query"].get("hub.challenge", "")
                if rec["name"] in sub.holding:
                    sub.release.wait(60)
                if rec["name"].startswith("noecho"):
                    self.reply(200, b"not-" + ch.encode())
                else:
                    self.reply(200, ch.encode())

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                rec = self.record(self.rfile.read(n))
                fail = rec["name"].startswith("fail") or rec["name"] in sub.failing
                self.reply(500 if fail else 202)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name, host="127.0.0.1"):
        return f"http://{host}:{self.port}/cb/{name}"

    def got(self, name, method=None, mode=None):
        with self.lock:
            return [r for r in self.log if r["name"] == name and
                    (method is None or r["method"] == method) and
                    (mode is None or r["query"].get("hub.mode") == mode)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def post_form(url, fields, ctype="application/x-www-form-urlencoded"):
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10 * tbtest.SLOW) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metric(base, name, **labels):
    st, _, body = tbtest.http_get(base + "metrics")
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                   if labels else "")
    for line in body.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


class HubTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tbtest.TempDir()
        cls.tmp = cls.tmpdir.__enter__()
        cls.www = os.path.join(cls.tmp, "www")
        os.makedirs(cls.www)
        cls.n = 2
        cls.write_feed()
        cls.up = tbtest.Upstream(cls.www, os.path.join(cls.tmp, "upstream.log"))
        cls.sub = Subscriber()
        cls.daemon = None
        cls.port = tbtest.free_port()
        cls.base = f"http://127.0.0.1:{cls.port}/"
        cls.hub = cls.base + "websub"
        cls.config = os.path.join(cls.tmp, "t.ini")
        with open(cls.config, "w") as f:
            f.write(f"""[tributary]
database = db/t.db
public_dir = pub
listen = 127.0.0.1:{cls.port}
base_url = {cls.base}

[source g]
url = {cls.up.base}g.atom
interval = 1s

[topic t]
query = graph

[topic other]
query = nothing

[websub]
allow_private = yes
lease_min = 2s
lease = 1d
lease_max = 2d
""")
        os.environ["TB_WEBSUB_RETRY_MS"] = "300"
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        cls.daemon = tbtest.Daemon(cls.config, os.path.join(cls.tmp, "serve.log"))
        want = f"Graph paper {cls.n - 1}".encode()
        tbtest.wait_for(lambda: want in tbtest.http_get(cls.base + "topics/t.atom")[2], 30,
                        what="the daemon serving the upstream's entries")

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            cls.daemon.stop()
        cls.sub.stop()
        cls.up.stop()
        cls.tmpdir.__exit__(None, None, None)

    @classmethod
    def write_feed(cls):
        path = os.path.join(cls.www, "g.atom")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(atom(cls.n))
        os.replace(path + ".tmp", path)

    def change(self):
        """A new upstream entry the topic matches; returns once the daemon serves it."""
        type(self).n += 1
        self.write_feed()
        want = f"Graph paper {self.n - 1}".encode()
        tbtest.wait_for(lambda: want in tbtest.http_get(self.base + "topics/t.atom")[2], 30,
                        what="the change published")

    def subscribe(self, name, topic="topics/t.atom", mode="subscribe", **extra):
        fields = {"hub.mode": mode, "hub.callback": self.sub.url(name),
                  "hub.topic": self.base + topic, **extra}
        return post_form(self.hub, fields)

    def verified(self, name, mode="subscribe", seen=0):
        """Waits for a verification GET of name's intent after the first
        `seen` ones; returns it."""
        return tbtest.wait_for(lambda: self.sub.got(name, "GET", mode)[seen:], 20,
                               what=f"{mode} verification of {name}")[-1]

    def active(self):
        return metric(self.base, "tributary_websub_subscriptions")

    # ------------------------------------------------------------------
    def test_01_links(self):
        for ext in ("atom", "rss", "json"):
            st, h, body = tbtest.http_get(self.base + f"topics/t.{ext}")
            self.assertEqual(st, 200)
            link = h["Link"]
            self.assertIn(f'<{self.hub}>; rel="hub"', link)
            self.assertIn(f'<{self.base}topics/t.{ext}>; rel="self"', link)
            self.assertIn('rel="alternate"', link)
            text = body.decode()
            if ext == "json":
                doc = json.loads(text)
                self.assertEqual(doc["feed_url"], f"{self.base}topics/t.{ext}")
                self.assertEqual(doc["hubs"][0]["url"], self.hub)
            else:
                self.assertRegex(text, rf'<(atom:)?link [^>]*rel="hub"[^>]*href="{self.hub}"|'
                                       rf'<(atom:)?link [^>]*href="{self.hub}"[^>]*rel="hub"')
                self.assertIn(f'{self.base}topics/t.{ext}"', text)
        # all.* names the hub too.
        st, h, _ = tbtest.http_get(self.base + "all.atom")
        self.assertIn(f'<{self.hub}>; rel="hub"', h["Link"])

    def test_02_subscribe_and_push(self):
        st, body = self.subscribe("good", **{"hub.secret": SECRET})
        self.assertEqual(st, 202, body)
        v = self.verified("good")
        self.assertEqual(v["query"]["hub.topic"], self.base + "topics/t.atom")
        self.assertEqual(v["query"]["hub.lease_seconds"], "86400")  # the default lease
        self.assertGreaterEqual(len(v["query"]["hub.challenge"]), 20)
        st, body = self.subscribe("rss", topic="topics/t.rss",
                                  **{"hub.lease_seconds": "99999999"})
        self.assertEqual(st, 202, body)
        self.assertEqual(self.verified("rss")["query"]["hub.lease_seconds"], "172800")  # max
        tbtest.wait_for(lambda: self.active() == 2, 10, what="two active subscriptions")
        self.assertEqual(self.sub.got("good", "POST"), [])

        t0 = time.monotonic()
        self.change()
        push = tbtest.wait_for(lambda: self.sub.got("good", "POST"), 15, what="the push")[0]
        self.assertLess(push["at"] - t0, 15)
        body = push["body"]
        self.assertEqual(body, tbtest.http_get(self.base + "topics/t.atom")[2])
        h = push["headers"]
        self.assertEqual(h["Content-Type"], "application/atom+xml; charset=utf-8")
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        self.assertEqual(h["X-Hub-Signature"], "sha256=" + mac)
        self.assertIn(f'<{self.hub}>; rel="hub"', h["Link"])
        self.assertIn(f'<{self.base}topics/t.atom>; rel="self"', h["Link"])
        # The RSS subscriber gets the RSS document, unsigned.
        rss = tbtest.wait_for(lambda: self.sub.got("rss", "POST"), 15, what="the RSS push")[0]
        self.assertEqual(rss["headers"]["Content-Type"], "application/rss+xml; charset=utf-8")
        self.assertNotIn("X-Hub-Signature", rss["headers"])
        self.assertEqual(rss["body"], tbtest.http_get(self.base + "topics/t.rss")[2])
        self.assertIn(f'<{self.base}topics/t.rss>; rel="self"', rss["headers"]["Link"])
        self.assertEqual(metric(self.base, "tributary_websub_deliveries_total", outcome="ok"), 2)

    def test_03_unsubscribe(self):
        st, body = self.subscribe("rss", topic="topics/t.rss", mode="unsubscribe")
        self.assertEqual(st, 202, body)
        v = self.verified("rss", "unsubscribe")
        self.assertNotIn("hub.lease_seconds", v["query"])
        tbtest.wait_for(lambda: self.active() == 1, 10, what="the unsubscription")
        before_rss = len(self.sub.got("rss", "POST"))
        before = len(self.sub.got("good", "POST"))
        self.change()
        tbtest.wait_for(lambda: len(self.sub.got("good", "POST")) > before, 15,
                        what="the push to the one still subscribed")
        time.sleep(1.0)
        self.assertEqual(len(self.sub.got("rss", "POST")), before_rss)

    def test_04_denied_and_malformed(self):
        st, body = self.subscribe("denied", topic="topics/nope.atom")
        self.assertEqual(st, 202, body)
        d = self.verified("denied", "denied")
        self.assertEqual(d["query"]["hub.topic"], self.base + "topics/nope.atom")
        self.assertTrue(d["query"].get("hub.reason"))
        self.assertNotIn("hub.challenge", d["query"])
        # Another site's URL is denied the same way.
        st, _ = post_form(self.hub, {"hub.mode": "subscribe",
                                     "hub.callback": self.sub.url("denied2"),
                                     "hub.topic": "https://example.org/feed.atom"})
        self.assertEqual(st, 202)
        self.verified("denied2", "denied")
        self.assertEqual(metric(self.base, "tributary_websub_verifications_total",
                                outcome="denied"), 2)
        self.assertEqual(self.active(), 1)
        topic = self.base + "topics/t.atom"
        for fields, status in (
                ({"hub.mode": "subscribe", "hub.topic": topic}, 400),
                ({"hub.mode": "follow", "hub.topic": topic, "hub.callback": self.sub.url("x")},
                 400),
                ({"hub.mode": "subscribe", "hub.callback": self.sub.url("x")}, 400),
                ({"hub.mode": "subscribe", "hub.topic": topic,
                  "hub.callback": "ftp://127.0.0.1/cb"}, 400),
                ({"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": self.sub.url("x"),
                  "hub.secret": "x" * 200}, 400),
                ({"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": self.sub.url("x"),
                  "hub.lease_seconds": "-5"}, 400)):
            st, body = post_form(self.hub, fields)
            self.assertEqual(st, status, (fields, body))
        st, _ = post_form(self.hub, {"hub.mode": "subscribe"}, ctype="text/plain")
        self.assertEqual(st, 400)
        self.assertEqual(tbtest.http_get(self.hub)[0], 405)
        # A body over the server's cap is refused before it is read.
        st, _ = post_form(self.hub, {"hub.mode": "subscribe", "pad": "x" * 20000})
        self.assertEqual(st, 413)
        self.assertEqual(self.sub.got("x"), [])

    def test_05_no_echo_not_activated(self):
        failed = metric(self.base, "tributary_websub_verifications_total", outcome="failed")
        st, _ = self.subscribe("noecho")
        self.assertEqual(st, 202)
        self.verified("noecho")
        tbtest.wait_for(lambda: metric(self.base, "tributary_websub_verifications_total",
                                       outcome="failed") == failed + 1, 10,
                        what="the failed verification counted")
        self.assertEqual(self.active(), 1)
        before = len(self.sub.got("good", "POST"))
        self.change()
        tbtest.wait_for(lambda: len(self.sub.got("good", "POST")) > before, 15, what="a push")
        time.sleep(0.5)
        self.assertEqual(self.sub.got("noecho", "POST"), [])

    def test_06_retries_back_off(self):
        st, _ = self.subscribe("fail")
        self.assertEqual(st, 202)
        self.verified("fail")
        tbtest.wait_for(lambda: self.active() == 2, 10, what="the failing one active")
        self.change()
        tries = tbtest.wait_for(lambda: (lambda p: p if len(p) >= 5 else None)(
            self.sub.got("fail", "POST")), 30, what="five delivery attempts")
        at = [t["at"] for t in tries[:5]]
        gaps = [b - a for a, b in zip(at, at[1:])]
        # 0.3, 0.6, 1.2, 2.4 s nominal: a retry never comes before its doubled
        # delay (a busy machine only makes a gap longer, so no upper bound and
        # no ratio between gaps: an ASan run beside compiles once gave 0.52, 0.61).
        for gap, nominal in zip(gaps, (0.3, 0.6, 1.2, 2.4)):
            self.assertGreater(gap, nominal * 0.9, gaps)
        # Every attempt carried the same (newest) document; the subscription stays.
        self.assertEqual(len({t["body"] for t in tries[:5]}), 1)
        self.assertEqual(self.active(), 2)
        self.assertGreaterEqual(metric(self.base, "tributary_websub_deliveries_total",
                                       outcome="failed"), 5)
        self.assertEqual(metric(self.base, "tributary_websub_pending"), 1)
        # Unsubscribing ends the retries.
        self.subscribe("fail", mode="unsubscribe")
        self.verified("fail", "unsubscribe")
        tbtest.wait_for(lambda: self.active() == 1, 10, what="the failing one gone")

    def test_07_expired_lease_not_delivered(self):
        st, _ = self.subscribe("short", **{"hub.lease_seconds": "1"})
        self.assertEqual(st, 202)
        self.assertEqual(self.verified("short")["query"]["hub.lease_seconds"], "2")  # lease_min
        tbtest.wait_for(lambda: self.active() == 2, 10, what="the short one active")
        time.sleep(2.5)
        before = len(self.sub.got("good", "POST"))
        self.change()
        tbtest.wait_for(lambda: len(self.sub.got("good", "POST")) > before, 15, what="a push")
        time.sleep(0.5)
        self.assertEqual(self.sub.got("short", "POST"), [])

    def test_08_survives_restart(self):
        self.assertEqual(self.daemon.stop(), 0)
        type(self).daemon = None
        self.start()
        self.assertEqual(self.active(), 1)  # good (short expired, not loaded)
        pushes = len(self.sub.got("good", "POST"))
        time.sleep(1.5)
        # An unchanged document is not pushed again after a restart.
        self.assertEqual(len(self.sub.got("good", "POST")), pushes)
        self.change()
        push = tbtest.wait_for(lambda: self.sub.got("good", "POST")[pushes:], 15,
                               what="a push after the restart")[0]
        mac = hmac.new(SECRET.encode(), push["body"], hashlib.sha256).hexdigest()
        self.assertEqual(push["headers"]["X-Hub-Signature"], "sha256=" + mac)
        # Re-subscribing renews and replaces the secret.
        seen = len(self.sub.got("good", "GET", "subscribe"))
        self.subscribe("good", **{"hub.secret": "new-secret"})
        self.verified("good", seen=seen)
        time.sleep(0.5)
        n = len(self.sub.got("good", "POST"))
        self.change()
        push = tbtest.wait_for(lambda: self.sub.got("good", "POST")[n:], 15, what="a push")[0]
        mac = hmac.new(b"new-secret", push["body"], hashlib.sha256).hexdigest()
        self.assertEqual(push["headers"]["X-Hub-Signature"], "sha256=" + mac)
        self.assertEqual(self.active(), 1)
        # A reload keeps them too.
        self.daemon.proc.send_signal(signal.SIGHUP)
        tbtest.wait_for(lambda: "reloaded" in self.daemon.log_text(), 10, what="the reload")
        self.assertEqual(self.active(), 1)
        n = len(self.sub.got("good", "POST"))
        self.change()
        tbtest.wait_for(lambda: self.sub.got("good", "POST")[n:], 15, what="a push after SIGHUP")

    def test_08b_owed_delivery_survives_restart(self):
        self.sub.failing.add("flaky")
        st, _ = self.subscribe("flaky")
        self.assertEqual(st, 202)
        self.verified("flaky")
        tbtest.wait_for(lambda: self.active() == 2, 10, what="flaky active")
        self.change()
        tbtest.wait_for(lambda: self.sub.got("flaky", "POST"), 15, what="a failed delivery")
        owed = self.sub.got("flaky", "POST")[-1]["body"]
        # good's delivery of the same change may still be in flight.
        tbtest.wait_for(lambda: metric(self.base, "tributary_websub_pending") == 1, 10,
                        what="only flaky's delivery owed")
        self.assertEqual(self.daemon.stop(), 0)
        type(self).daemon = None
        self.sub.failing.discard("flaky")
        n = len(self.sub.got("flaky", "POST"))
        self.start()
        # No new change: what was owed goes out with the first publish.
        push = tbtest.wait_for(lambda: self.sub.got("flaky", "POST")[n:], 15,
                               what="the owed delivery after the restart")[0]
        self.assertEqual(push["body"], owed)
        tbtest.wait_for(lambda: metric(self.base, "tributary_websub_pending") == 0, 10,
                        what="nothing owed")
        self.subscribe("flaky", mode="unsubscribe")
        self.verified("flaky", "unsubscribe")
        tbtest.wait_for(lambda: self.active() == 1, 10, what="flaky gone")

    def other_daemon(self, name, websub):
        """A second daemon on the same upstream with its own [websub]."""
        port = tbtest.free_port()
        base = f"http://127.0.0.1:{port}/"
        config = os.path.join(self.tmp, name + ".ini")
        with open(config, "w") as f:
            f.write(f"""[tributary]
database = {name}.db
public_dir = {name}-pub
listen = 127.0.0.1:{port}
base_url = {base}

[source g]
url = {self.up.base}g.atom
interval = 1s

[topic t]
query = graph

{websub}
""")
        d = tbtest.Daemon(config, os.path.join(self.tmp, name + ".log"))
        self.addCleanup(d.stop)
        want = f"Graph paper {self.n - 1}".encode()
        tbtest.wait_for(lambda: want in tbtest.http_get(base + "topics/t.atom")[2], 30,
                        what=f"the {name} daemon")
        return d, base

    def test_10_caps(self):
        d, base = self.other_daemon("caps", "[websub]\nallow_private = yes\n"
                                            "max_per_host = 2\nmax_per_topic = 1\n")

        def sub(name, topic, mode="subscribe"):
            return post_form(base + "websub", {"hub.mode": mode, "hub.topic": base + topic,
                                               "hub.callback": self.sub.url(name)})
        self.assertEqual(sub("capA", "topics/t.atom")[0], 202)
        self.verified("capA")
        tbtest.wait_for(lambda: metric(base, "tributary_websub_subscriptions") == 1, 10,
                        what="capA active")
        st, body = sub("capB", "topics/t.atom")
        self.assertEqual((st, body), (403, b"too many subscriptions to this topic\n"))
        self.assertEqual(sub("capB", "topics/t.rss")[0], 202)
        self.verified("capB")
        tbtest.wait_for(lambda: metric(base, "tributary_websub_subscriptions") == 2, 10,
                        what="capB active")
        st, body = sub("capC", "all.atom")
        self.assertEqual((st, body), (403, b"too many subscriptions for this callback host\n"))
        self.assertEqual(self.sub.got("capC"), [])
        # Renewing one already there is not a new subscription, also while
        # its verification is under way (held here); leaving frees a place.
        self.sub.holding.add("capA")
        try:
            seen = len(self.sub.got("capA", "GET"))
            self.assertEqual(sub("capA", "topics/t.atom")[0], 202)
            tbtest.wait_for(lambda: len(self.sub.got("capA", "GET")) > seen, 10,
                            what="capA's renewal being verified")
            self.assertEqual(sub("capB", "topics/t.rss", "unsubscribe")[0], 202)
            tbtest.wait_for(lambda: metric(base, "tributary_websub_subscriptions") == 1, 10,
                            what="capB gone")
            self.assertEqual(sub("capC", "all.atom")[0], 202)
        finally:
            self.sub.release.set()
            self.sub.holding.discard("capA")

    def test_11_external_hub(self):
        hub = self.sub.url("extHub")
        d, base = self.other_daemon("ext", f"[websub]\nhub = {hub}\n")
        st, h, body = tbtest.http_get(base + "topics/t.atom")
        self.assertIn(f'<{hub}>; rel="hub"', h["Link"])
        self.assertIn(f'<link rel="hub" href="{hub}"/>'.encode(), body)
        self.assertNotIn(b"/websub", body)
        # The hub is not ours: no /websub.
        self.assertEqual(tbtest.http_get(base + "websub")[0], 404)
        self.assertEqual(post_form(base + "websub", {"hub.mode": "subscribe"})[0], 405)
        before = len(self.sub.got("extHub", "POST"))
        self.change()
        pings = tbtest.wait_for(lambda: (lambda p: p if {"topics/t.atom", "topics/t.rss",
                                                        "topics/t.json", "all.atom"} <=
                                         {q["hub.url"][len(base):] for q in p} else None)(
            [dict(urllib.parse.parse_qsl(r["body"].decode()), ctype=r["headers"]["Content-Type"])
             for r in self.sub.got("extHub", "POST")[before:]]), 20, what="the publish pings")
        for q in pings:
            self.assertEqual(q["hub.mode"], "publish")
            self.assertEqual(q["ctype"], "application/x-www-form-urlencoded")
            self.assertTrue(q["hub.url"].startswith(base))
        self.assertGreaterEqual(metric(base, "tributary_websub_publish_pings_total",
                                       outcome="ok"), 4)

    def test_09_private_callbacks_refused_by_default(self):
        port = tbtest.free_port()
        base = f"http://127.0.0.1:{port}/"
        config = os.path.join(self.tmp, "strict.ini")
        with open(config, "w") as f:
            f.write(f"""[tributary]
database = strict.db
public_dir = strict-pub
listen = 127.0.0.1:{port}
base_url = {base}

[source g]
url = {self.up.base}g.atom
interval = 1h

[topic t]
query = graph
""")
        d = tbtest.Daemon(config, os.path.join(self.tmp, "strict.log"))
        try:
            tbtest.wait_for(lambda: tbtest.http_get(base + "topics/t.atom")[0] == 200, 30,
                            what="the strict daemon")
            topic = base + "topics/t.atom"
            for host in ("127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254",
                         "[::ffff:127.0.0.1]"):
                st, body = post_form(base + "websub", {
                    "hub.mode": "subscribe", "hub.topic": topic,
                    "hub.callback": self.sub.url("strict", host)})
                self.assertEqual(st, 403, (host, body))
            # A name that resolves to loopback passes the form check and is
            # refused where it connects: the callback never hears of it.
            name = socket.gethostname()
            addrs = {a[4][0] for a in socket.getaddrinfo(name, None)}
            if all(a.startswith("127.") or a == "::1" for a in addrs):
                st, _ = post_form(base + "websub", {"hub.mode": "subscribe", "hub.topic": topic,
                                                    "hub.callback": self.sub.url("named", name)})
                self.assertEqual(st, 202)
                tbtest.wait_for(lambda: metric(base, "tributary_websub_verifications_total",
                                               outcome="failed") == 1, 20,
                                what="the named loopback callback refused")
                self.assertEqual(self.sub.got("named"), [])
                self.assertIn("not a public address", d.log_text())
            self.assertEqual(self.sub.got("strict"), [])
            self.assertEqual(metric(base, "tributary_websub_subscriptions"), 0)
        finally:
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    tbtest.main()
