#!/usr/bin/python3
"""e2e_websub_push: tributary subscribes upstream through WebSub (issue 12 items 2 and 6).

An upstream feed server (tests/upstream.py) serves a feed naming a hub
(rel=hub) and itself (rel=self); the hub is a small HTTP server in this test.
tributary (serve, callback_base = its own loopback URL, allow_private = yes)
polls the feed and subscribes: the test hub checks the request (topic = the
rel=self URL, an unguessable callback under /websub/callback/, a secret),
verifies intent (a wrong topic gets 404, the right one the challenge back),
and pushes documents: a signed one (sha256, and after a restart sha1) is in
tributary's topic feed within seconds though the upstream never served its
entry; an unsigned and a wrongly signed one are not ingested (counted in
/metrics); an unknown callback id is 404/410. With a short lease tributary
renews before it ends; while the subscription is active the source is
polled at 4x its interval (the upstream log), and after the hub denies it
polling is back to normal. `sources --json` shows the push state, which
survives a restart.
"""
import hashlib
import hmac
import os
import re
import secrets
import signal
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402

INTERVAL = 2  # the source's poll interval (s); 8 s while subscribed
LEASE = 10    # the lease the test hub grants (s): renewed at 9 s


def entry(n):
    # Entries 1-99 are recent, one a day; the bulk ones (100 and up) are old,
    # so they never push the recent ones out of the topic's feed.
    day = f"2026-12-0{n}" if n < 10 else f"2020-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z"
    day = day if n >= 10 else day + "T10:00:00Z"
    return f"""<entry><id>urn:e:{n}</id><title>Walrus number {n}</title>
<link href="http://example.org/{n}"/><updated>{day}</updated>
<summary>walrus report {n}</summary></entry>"""


def feed(hub, self_url, ns):
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:feed:w</id><title>W</title>
<updated>2026-12-07T10:00:00Z</updated>
<link rel="hub" href="{hub}"/><link rel="self" href="{self_url}"/>
{''.join(entry(n) for n in ns)}</feed>
"""


class Hub:
    """A WebSub hub for one test: records subscription requests (answering
    202) and verifies each one at its callback right after, granting
    `lease` seconds; `deny()` sends hub.mode=denied instead."""

    def __init__(self):
        self.requests = []   # the forms POSTed, in order
        self.verified = []   # (mode, status, body, challenge) of each verification
        self.verify_max = None  # verify only this many requests (None: all)
        self.status = 202       # the answer to subscription requests
        self.moved = None       # a 3xx status: /hub answers it, pointing to /hub/new
        self.redirected = 0     # requests answered with `moved`
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode(), keep_blank_values=True)
                form = {k: v[0] for k, v in form.items()}
                form["_content_type"] = self.headers.get("Content-Type", "")
                form["_path"] = self.path
                if hub.moved is not None and self.path == "/hub":
                    with hub.lock:
                        hub.redirected += 1
                    self.send_response(hub.moved)
                    self.send_header("Location", "/hub/new")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with hub.lock:
                    hub.requests.append(form)
                    verify = hub.verify_max is None or len(hub.requests) <= hub.verify_max
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if verify and hub.status == 202:
                    threading.Thread(target=hub.verify, args=(form,), daemon=True).start()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def subscribes(self):
        with self.lock:
            return [r for r in self.requests if r.get("hub.mode") == "subscribe"]

    def get(self, callback, params):
        sep = "&" if "?" in callback else "?"
        url = callback + sep + urllib.parse.urlencode(params)
        return tbtest.http_get(url)

    def verify(self, form):
        time.sleep(0.2)
        challenge = secrets.token_urlsafe(24)
        st, _, body = self.get(form["hub.callback"], {
            "hub.mode": form["hub.mode"], "hub.topic": form["hub.topic"],
            "hub.challenge": challenge, "hub.lease_seconds": str(LEASE)})
        with self.lock:
            self.verified.append((form["hub.mode"], st, body.decode("utf-8", "replace"),
                                  challenge))

    def push(self, callback, body, alg="sha256", secret=None, signature=None):
        """POSTs a document to the callback, signed with alg under secret
        (or with the given X-Hub-Signature, or unsigned when both are None)."""
        headers = {"Content-Type": "application/atom+xml"}
        if secret is not None:
            mac = hmac.new(secret.encode(), body, getattr(hashlib, alg)).hexdigest()
            headers["X-Hub-Signature"] = f"{alg}={mac}"
        elif signature is not None:
            headers["X-Hub-Signature"] = signature
        req = urllib.request.Request(callback, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10 * tbtest.SLOW) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


class WebSubPushTest(unittest.TestCase):
    def setUp(self):
        self.tmpdir = tbtest.TempDir()
        self.tmp = self.tmpdir.__enter__()
        self.www = os.path.join(self.tmp, "www")
        os.makedirs(self.www)
        self.up = tbtest.Upstream(self.www, os.path.join(self.tmp, "upstream.log"))
        self.hub = Hub()
        self.daemon = None
        self.self_url = self.up.base + "w.atom"
        self.body_hub = self.hub.url
        self.write([1])
        self.port = tbtest.free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.config = os.path.join(self.tmp, "t.ini")
        self.configure(f"{self.up.base}w.atom?via=config")

    def configure(self, url):
        with open(self.config, "w") as f:
            f.write(f"""[tributary]
database = db/t.db
public_dir = pub
listen = 127.0.0.1:{self.port}
base_url = {self.base}
timeout = 30s

[websub]
callback_base = {self.base}
allow_private = yes

[source w]
url = {url}
interval = {INTERVAL}s

[topic walrus]
query = walrus
""")

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.stop()
        log = os.path.join(self.tmp, "serve.log")
        if os.path.exists(log) and any(e for _, e in self._outcome.result.failures +
                                       self._outcome.result.errors):
            with open(log, encoding="utf-8", errors="replace") as f:
                print("serve.log (last 60 lines):\n" + "".join(f.readlines()[-60:]),
                      file=sys.stderr)
        self.hub.stop()
        self.up.stop()
        self.up.proc.stdout.close()
        self.tmpdir.__exit__(None, None, None)

    def write(self, ns):
        tmp = os.path.join(self.www, "w.atom.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(feed(self.body_hub, self.self_url, ns))
        os.replace(tmp, os.path.join(self.www, "w.atom"))

    def start(self):
        self.daemon = tbtest.Daemon(self.config, os.path.join(self.tmp, "serve.log"))
        tbtest.wait_for(lambda: tbtest.http_get(self.base + "healthz")[0] == 200, 20,
                        what="the daemon listening")

    def polls(self):
        return len(self.up.requests("/w.atom"))

    def topic_ids(self):
        st, _, body = tbtest.http_get(self.base + "topics/walrus.atom")
        return set(re.findall(r"Walrus number (\d+)", body.decode())) if st == 200 else set()

    def push_state(self):
        [src] = tbtest.sources_json(self.config)
        return src["push"]

    def metric(self, name):
        _, _, body = tbtest.http_get(self.base + "metrics")
        m = re.search(r"^" + re.escape(name) + r" (\d+)$", body.decode(), re.M)
        return int(m.group(1)) if m else None

    def wait_verified(self, n):
        return tbtest.wait_for(lambda: len(self.hub.verified) >= n and self.hub.verified, 20,
                               what=f"{n} verifications")

    def log(self):
        return self.daemon.log_text() if self.daemon else ""

    def test_subscriber(self):
        self.start()
        # 1. The first poll finds the hub: a subscription request.
        tbtest.wait_for(self.hub.subscribes, 20, what="a subscription request at the hub")
        req = self.hub.subscribes()[0]
        self.assertEqual(req["hub.topic"], self.self_url)  # rel=self, not the config URL
        self.assertTrue(req["_content_type"].startswith("application/x-www-form-urlencoded"))
        cb = req["hub.callback"]
        self.assertRegex(cb, "^" + re.escape(self.base) + r"websub/callback/[0-9a-f]{32}$")
        self.assertRegex(req["hub.secret"], r"^[0-9a-f]{64}$")
        self.assertGreater(int(req["hub.lease_seconds"]), 0)
        secret = req["hub.secret"]
        # 2. Verification of intent: our challenge back, text/plain; not for another topic or mode.
        mode, st, body, challenge = self.wait_verified(1)[0]
        self.assertEqual((mode, st, body), ("subscribe", 200, challenge))
        for params in ({"hub.topic": self.up.base + "other.atom", "hub.mode": "subscribe"},
                       {"hub.topic": self.self_url, "hub.mode": "unsubscribe"}):
            params.update({"hub.challenge": "nope", "hub.lease_seconds": "60"})
            st, _, body = self.hub.get(cb, params)
            self.assertEqual(st, 404, params)
            self.assertNotIn(b"nope", body)
        unknown = self.base + "websub/callback/" + "0" * 32
        st, _, _ = self.hub.get(unknown, {"hub.mode": "subscribe", "hub.topic": self.self_url,
                                          "hub.challenge": "x", "hub.lease_seconds": "60"})
        self.assertEqual(st, 404)
        state = tbtest.wait_for(lambda: self.push_state()["state"] == "active" and
                                self.push_state(), 10, what="push state active")
        self.assertEqual(state["hub"], self.hub.url)
        self.assertEqual(state["topic"], self.self_url)
        self.assertNotEqual(state["lease_end"], "never")
        tbtest.wait_for(lambda: "1" in self.topic_ids(), 20, what="entry 1 polled")

        # 3. A signed push: its new entry is served within seconds, with no poll
        # of it (the upstream's document never holds entry 2).
        t0 = time.monotonic()
        self.assertEqual(self.hub.push(cb, feed(self.hub.url, self.self_url, [1, 2]).encode(),
                                       secret=secret), 202)
        tbtest.wait_for(lambda: "2" in self.topic_ids(), 10, what="the pushed entry served")
        push_seconds = time.monotonic() - t0
        print(f"push to served: {push_seconds:.2f} s", file=sys.stderr)
        self.assertLess(push_seconds, 5)

        # 4. Unsigned, wrongly signed, signed with another secret, malformed:
        # acknowledged (2xx), not ingested, counted; an unknown id is 404/410.
        doc = feed(self.hub.url, self.self_url, [1, 2, 3]).encode()
        self.assertEqual(self.hub.push(cb, doc), 202)
        self.assertEqual(self.hub.push(cb, doc, secret="not-the-secret"), 202)
        self.assertEqual(self.hub.push(cb, doc, signature="sha256=" + "0" * 64), 202)
        self.assertEqual(self.hub.push(cb, doc, signature="sha256"), 202)
        self.assertIn(self.hub.push(unknown, doc, secret=secret), (404, 410))
        self.assertEqual(self.metric('tributary_pushes_total{outcome="rejected"}'), 4)
        self.assertEqual(self.metric('tributary_pushes_total{outcome="accepted"}'), 1)
        self.assertEqual(self.metric('tributary_pushes_total{outcome="unknown"}'), 1)
        self.assertEqual(self.metric('tributary_push_subscriptions{state="active"}'), 1)
        time.sleep(2)
        self.assertNotIn("3", self.topic_ids())
        self.assertIn("push ignored", self.log())
        # A push is as big as a feed: far above the 16 KB of a form.
        big = feed(self.hub.url, self.self_url, [1, 2] + list(range(100, 700))).encode()
        self.assertGreater(len(big), 100_000)
        self.assertEqual(self.hub.push(cb, big, alg="sha512", secret=secret), 202)
        tbtest.wait_for(lambda: "push stored: 600 new" in self.log(), 15,
                        what="the big pushed document stored")

        # 5. Renewal before the lease ends: a second subscribe, same callback.
        tbtest.wait_for(lambda: len(self.hub.subscribes()) >= 2, LEASE + 5,
                        what="a renewal before the lease ends")
        renewal = self.hub.subscribes()[1]
        self.assertEqual((renewal["hub.callback"], renewal["hub.topic"]), (cb, self.self_url))
        self.wait_verified(2)
        self.assertEqual(self.hub.verified[1][1:3], (200, self.hub.verified[1][3]))

        # 6. Active: polled at 4x the interval. Measured over 16 s: 8 polls at the
        # normal interval, at most 3 at 8 s (with jitter and a poll in progress).
        n0 = self.polls()
        time.sleep(16)
        rare = self.polls() - n0
        self.assertLessEqual(rare, 3, "polled as often as without a subscription")
        self.assertEqual(self.push_state()["state"], "active")

        # 7. State and secret survive a restart: a sha1-signed push after it is stored.
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon = None
        self.assertEqual(self.push_state()["state"], "active")
        self.start()
        self.assertEqual(self.hub.push(cb, feed(self.hub.url, self.self_url, [1, 2, 4]).encode(),
                                       alg="sha1", secret=secret), 202)
        tbtest.wait_for(lambda: "4" in self.topic_ids(), 15, what="a push after the restart")

        # 8. The hub denies: recorded with its reason, polling back to normal.
        st, _, _ = self.hub.get(cb, {"hub.mode": "denied", "hub.topic": self.self_url,
                                     "hub.reason": "too many subscribers"})
        self.assertEqual(st, 200)
        # Recorded by the daemon's store writes, which a busy machine can
        # delay past the answer (a run under load read "pending" at once).
        state = tbtest.wait_for(lambda: (lambda s: s if s["state"] == "denied" else None)(
            self.push_state()), 15, what="the denial recorded")
        self.assertEqual((state["state"], state["reason"]), ("denied", "too many subscribers"))
        n0 = self.polls()
        time.sleep(4 * INTERVAL + 1)
        self.assertGreaterEqual(self.polls() - n0, 3, "not polled normally after the denial")
        self.assertGreater(self.metric('tributary_push_subscriptions{state="denied"}'), 0)
        out = tbtest.run("sources", "-c", self.config).stdout.decode()
        self.assertIn("denied: too many subscribers", out)


    def subscribed(self):
        """Starts the daemon and waits for its verified subscription; its callback and secret."""
        self.start()
        tbtest.wait_for(self.hub.subscribes, 20, what="a subscription request at the hub")
        self.wait_verified(1)
        tbtest.wait_for(lambda: self.push_state()["state"] == "active", 10,
                        what="push state active")
        req = self.hub.subscribes()[0]
        return req["hub.callback"], req["hub.secret"]

    def test_hub_moved(self):
        """A hub that moved (308): the request follows with its method and
        form to the new URL, and the subscription is made (test_fetcher: 307
        too). A 303 (which would turn the POST into a GET) is not followed."""
        self.hub.moved = 308
        self.subscribed()
        req = self.hub.subscribes()[0]
        self.assertEqual(req["_path"], "/hub/new")
        self.assertEqual(req["hub.topic"], self.self_url)
        self.assertRegex(req["hub.secret"], r"^[0-9a-f]{64}$")
        self.assertGreaterEqual(self.hub.redirected, 1)

    def test_hub_moved_see_other(self):
        self.hub.moved = 303
        self.start()
        state = tbtest.wait_for(lambda: self.push_state()["state"] == "failed" and
                                self.push_state(), 20, what="push state failed")
        self.assertEqual(state["reason"], "hub answered 303")
        self.assertEqual(self.hub.subscribes(), [])
        self.assertGreaterEqual(self.hub.redirected, 1)

    def test_lapse(self):
        """A hub that stops verifying: the lease lapses at its end and the
        source is polled at its own interval again; tributary asks again."""
        self.hub.verify_max = 1
        cb, _ = self.subscribed()
        tbtest.wait_for(lambda: len(self.hub.subscribes()) >= 2, LEASE + 5,
                        what="a renewal request")
        tbtest.wait_for(lambda: self.push_state()["state"] != "active", LEASE + 5,
                        what="the lease lapsing")
        tbtest.wait_for(lambda: len(self.hub.subscribes()) >= 3, 10,
                        what="a new request after the lapse")
        self.assertIn("lease expired", self.log())
        self.assertIn(self.push_state()["state"], ("pending", "failed"))
        n0 = self.polls()
        time.sleep(4 * INTERVAL + 1)
        self.assertGreaterEqual(self.polls() - n0, 3, "not polled normally after the lapse")

    def test_removed_source(self):
        """A source removed from the config (SIGHUP) is unsubscribed: the hub
        gets hub.mode=unsubscribe for the same callback, its verification is
        answered, and the callback is gone (410) afterwards."""
        cb, secret = self.subscribed()
        with open(self.config, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"\[source w\][^\[]*", "", text)
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text)
        self.daemon.proc.send_signal(signal.SIGHUP)
        unsub = tbtest.wait_for(
            lambda: [r for r in self.hub.requests if r.get("hub.mode") == "unsubscribe"], 20,
            what="an unsubscribe request")[0]
        self.assertEqual((unsub["hub.callback"], unsub["hub.topic"]), (cb, self.self_url))
        self.assertNotIn("hub.secret", unsub)
        verified = self.wait_verified(2)[1]
        self.assertEqual(verified[:3], ("unsubscribe", 200, verified[3]))
        doc = feed(self.hub.url, self.self_url, [1, 5]).encode()
        self.assertIn(self.hub.push(cb, doc, secret=secret), (404, 410))
        self.assertEqual(tbtest.sources_json(self.config), [])
        self.assertEqual(self.metric('tributary_pushes_total{outcome="accepted"}'), 0)

    def test_callback_base_unset(self):
        """A reload without callback_base unsubscribes every source; the
        callback still answers the hub's verification."""
        cb, _ = self.subscribed()
        with open(self.config, encoding="utf-8") as f:
            text = f.read()
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text.replace(f"callback_base = {self.base}\n", ""))
        self.daemon.proc.send_signal(signal.SIGHUP)
        unsub = tbtest.wait_for(
            lambda: [r for r in self.hub.requests if r.get("hub.mode") == "unsubscribe"], 20,
            what="an unsubscribe request")[0]
        self.assertEqual(unsub["hub.callback"], cb)
        verified = self.wait_verified(2)[1]
        self.assertEqual(verified[:3], ("unsubscribe", 200, verified[3]))
        tbtest.wait_for(lambda: self.push_state() == {"state": "none"}, 10,
                        what="no subscription left")

    def test_hub_refuses(self):
        """A hub that answers 500: failed with the reason, retried later,
        the source polled at its own interval."""
        self.hub.status = 500
        self.start()
        tbtest.wait_for(self.hub.subscribes, 20, what="a subscription request at the hub")
        state = tbtest.wait_for(lambda: self.push_state()["state"] == "failed" and
                                self.push_state(), 10, what="push state failed")
        self.assertEqual(state["reason"], "hub answered 500")
        self.assertIn("retry in 60 s", self.log())
        self.assertIn("failed: hub answered 500",
                      tbtest.run("sources", "-c", self.config).stdout.decode())
        n0 = self.polls()
        time.sleep(4 * INTERVAL + 1)
        self.assertGreaterEqual(self.polls() - n0, 3, "not polled normally")
        self.assertEqual(len(self.hub.subscribes()), 1)  # not before its retry time

    def test_tributary_to_tributary(self):
        """One tributary subscribes to another's topic feed through the
        other's own hub (issue 12 item 1 meets item 2): a new upstream entry
        polled by the first is pushed, signed, to the second, which stores it
        from the push."""
        pa = tbtest.free_port()
        a_base = f"http://127.0.0.1:{pa}/"
        a_conf = os.path.join(self.tmp, "a.ini")
        with open(a_conf, "w") as f:
            f.write(f"""[tributary]
database = dba/a.db
public_dir = puba
listen = 127.0.0.1:{pa}
base_url = {a_base}

[websub]
allow_private = yes

[source up]
url = {self.up.base}w.atom
interval = {INTERVAL}s

[topic walrus]
query = walrus
""")
        self.configure(a_base + "topics/walrus.atom")
        a = tbtest.Daemon(a_conf, os.path.join(self.tmp, "a.log"))
        try:
            tbtest.wait_for(lambda: tbtest.http_get(a_base + "healthz")[0] == 200, 20,
                            what="tributary A listening")
            self.start()
            state = tbtest.wait_for(lambda: self.push_state()["state"] == "active" and
                                    self.push_state(), 30, what="B subscribed at A's hub")
            self.assertEqual(state["hub"], a_base + "websub")
            self.assertEqual(state["topic"], a_base + "topics/walrus.atom")
            self.write([1, 6])
            tbtest.wait_for(lambda: "6" in self.topic_ids(), 30, what="entry 6 at B")
            self.assertIn("websub: push stored: 1 new", self.log())
            self.assertGreaterEqual(self.metric('tributary_pushes_total{outcome="accepted"}'), 1)
            self.assertEqual(self.metric('tributary_pushes_total{outcome="rejected"}'), 0)
        finally:
            a.stop()

    def test_link_headers(self):
        """The response's Link headers come before the document's links
        (websub.rocks subscriber test 104): the document names a hub that
        refuses connections, the headers the test hub and another topic."""
        self.body_hub = "http://127.0.0.1:9/dead-hub"
        self.write([1])
        topic = self.up.base + "w.atom?canonical"
        link = f'<{self.hub.url}>; rel="hub", <{topic}>; rel="self"'
        self.configure(self.up.base + "w.atom?link=" + urllib.parse.quote(link))
        self.start()
        tbtest.wait_for(self.hub.subscribes, 20, what="a subscription request at the header's hub")
        self.assertEqual(self.hub.subscribes()[0]["hub.topic"], topic)
        mode, st, body, challenge = self.wait_verified(1)[0]
        self.assertEqual((mode, st, body), ("subscribe", 200, challenge))
        self.assertNotIn("dead-hub", self.log())


if __name__ == "__main__":
    tbtest.main()
