#!/usr/bin/python3
"""sd_notify (src/notify.c): `serve` under a NOTIFY_SOCKET the test binds, as
systemd's Type=notify does: READY=1 only once /healthz answers and the topic
feeds are published, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then
READY=1 around a SIGHUP, STOPPING=1 on SIGTERM."""
import os
import signal
import socket
import subprocess
import time
import unittest

import tbtest


class Notify(unittest.TestCase):
    def setUp(self):
        if os.environ.get("TB_HAVE_SYSTEMD") != "1":
            tbtest.missing("tributary built without libsystemd (apt-get install libsystemd-dev)")
        td = tbtest.TempDir()
        self.tmp = td.__enter__()
        self.addCleanup(td.__exit__, None, None, None)
        self.port = tbtest.free_port()
        self.config = os.path.join(self.tmp, "t.ini")
        with open(self.config, "w") as f:
            f.write(f"""[tributary]
database = db.sqlite
public_dir = public
listen = 127.0.0.1:{self.port}
base_url = http://127.0.0.1:{self.port}/

[source refused]
url = http://127.0.0.1:9/feed.atom

[topic t]
query = anything
""")
        tbtest.keep_off_the_internet(self.config)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock_path = os.path.join(self.tmp, "notify")
        self.sock.bind(self.sock_path)
        self.addCleanup(self.sock.close)

    def start(self, **env):
        e = dict(os.environ, NOTIFY_SOCKET=self.sock_path, **env)
        log = open(os.path.join(self.tmp, "log"), "ab")
        self.addCleanup(log.close)
        p = subprocess.Popen([tbtest.BIN, "serve", "-c", self.config], stdout=log, stderr=log,
                             env=e)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        return p

    def recv(self, timeout):
        """The next message's lines as a set, or None after timeout seconds."""
        self.sock.settimeout(timeout * tbtest.SLOW)
        try:
            return set(self.sock.recv(4096).decode().split("\n"))
        except socket.timeout:
            return None

    def wait_msg(self, line, timeout=30):
        """Messages until one holds `line`; returns those before it."""
        before, end = [], time.monotonic() + timeout * tbtest.SLOW
        while time.monotonic() < end:
            m = self.recv(end - time.monotonic())
            if m is not None and line in m:
                return before
            if m is not None:
                before.append(m)
        self.fail(f"no {line} within {timeout} s; got {before}")

    def test_ready_watchdog_reload_stop(self):
        p = self.start(WATCHDOG_USEC="400000")
        before = self.wait_msg("READY=1")
        self.assertEqual(before, [], "nothing before READY=1")
        # Ready means served and published, at the moment READY=1 arrives.
        status, _, body = tbtest.http_get(f"http://127.0.0.1:{self.port}/healthz")
        self.assertEqual(status, 200)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "public", "topics", "t.atom")))
        # Pings every 200 ms (half of 400 ms): 2 s bring about 10.
        t0, pings = time.monotonic(), 0
        while time.monotonic() - t0 < 2.0:
            m = self.recv(0.5)
            if m is not None and "WATCHDOG=1" in m:
                pings += 1
        self.assertGreaterEqual(pings, 4 if tbtest.SLOW == 1 else 1)
        self.assertLessEqual(pings, 14, "pinged faster than half of WATCHDOG_USEC")
        p.send_signal(signal.SIGHUP)
        self.wait_msg("RELOADING=1")
        self.wait_msg("READY=1")
        p.send_signal(signal.SIGTERM)
        self.wait_msg("STOPPING=1")
        self.assertEqual(p.wait(30 * tbtest.SLOW), 0)

    def test_no_watchdog_when_not_asked(self):
        # WATCHDOG_PID naming another process: the watchdog is not ours.
        p = self.start(WATCHDOG_USEC="200000", WATCHDOG_PID="1")
        self.wait_msg("READY=1")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            m = self.recv(0.3)
            self.assertFalse(m is not None and "WATCHDOG=1" in m, m)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30 * tbtest.SLOW), 0)


if __name__ == "__main__":
    tbtest.main()
