"""The default config (feeds/tributary.ini, real arXiv and lab feeds) on a
machine without internet: `tributary serve` starts, serves the index, the
all-feed and every topic (empty, valid Atom), says on the front page and
/trending.html why nothing is listed, records an error for every
source in `tributary sources`, and does not busy-loop. The daemon runs in a
network namespace of its own with only loopback up, so no packet leaves the
machine (not even a DNS query)."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import xml.dom.minidom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import (SOURCE_DIR, Daemon, TempDir, free_port, http_get, run, sources_json,
                    wait_for)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Offline(unittest.TestCase):
    def test_default_config_without_network(self):
        with TempDir() as t:
            feeds = os.path.join(t, "feeds")
            shutil.copytree(os.path.join(SOURCE_DIR, "feeds"), feeds)
            conf = os.path.join(feeds, "tributary.ini")
            port = free_port()
            with open(conf, encoding="utf-8") as f:
                text = f.read()
            # Only the port changes, so a busy 8080 cannot fail the test.
            text = re.sub(r"(?m)^listen\s*=.*$", f"listen = 127.0.0.1:{port}", text)
            text = re.sub(r"(?m)^base_url\s*=.*$", f"base_url = http://127.0.0.1:{port}/", text)
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text)
            self.assertEqual(run("check", "-c", conf).returncode, 0)
            d = Daemon(conf, os.path.join(t, "daemon.log"))
            base = f"http://127.0.0.1:{port}/"
            try:
                wait_for(lambda: http_get(base + "healthz")[0] == 200, 20, what="the daemon up")
                names = [s["name"] for s in sources_json(conf)]
                self.assertGreaterEqual(len(names), 10)
                # New sources start within seconds (one a second at most) and fail fast.
                wait_for(lambda: all(s["last_error"] for s in sources_json(conf)), 90,
                         step=1, what="an error recorded for every source")
                cpu0, t0 = cpu_seconds(d.proc.pid), time.monotonic()
                time.sleep(5)
                busy = (cpu_seconds(d.proc.pid) - cpu0) / (time.monotonic() - t0)
                print(f"\nidle CPU after every source failed: {busy * 100:.1f}%", file=sys.stderr)
                self.assertLess(busy, 0.2, "the daemon busy-loops without network")
                for path in ["", "index.html", "all.atom", "sources.opml"]:
                    status, _, body = http_get(base + path)
                    self.assertEqual(status, 200, path)
                    if path.endswith((".atom", ".opml")):
                        xml.dom.minidom.parseString(body)
                status, _, index = http_get(base)
                # Nothing to rank offline: the front and trending pages say why.
                why = re.compile(r"No papers yet: (\d+) of \1 sources failed at their last poll "
                                 r"\(offline\?\)\.")
                for path in ["", "trending.html"]:
                    wait_for(lambda: why.search(http_get(base + path)[2].decode("utf-8", "replace")),
                             20, what=f"/{path} saying why it is empty")
                topics = re.findall(rb'href="[^"]*topics/([a-z0-9-]+)\.atom"', index)
                self.assertGreaterEqual(len(set(topics)), 6)
                for name in set(topics):
                    status, _, body = http_get(base + f"topics/{name.decode()}.atom")
                    self.assertEqual(status, 200)
                    xml.dom.minidom.parseString(body)
                self.assertTrue(d.alive())
            finally:
                rc = d.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])
            for s in sources_json(conf):
                self.assertNotEqual(s["status"], "never", s)
                self.assertTrue(s["last_error"], s)


def main():
    if "--inside" in sys.argv:
        sys.argv.remove("--inside")
        tbtest.main()
        return
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        # Reported as skipped (77), or failed under CI, like tbtest.missing().
        print("needs root, unshare and ip for a network namespace", file=sys.stderr)
        sys.exit(1 if tbtest.CI else 77)
    # A fresh network namespace: loopback only, brought up before the test runs.
    cmd = ["unshare", "--net", "--", "sh", "-c",
           'ip link set lo up && exec "$0" "$@"', sys.executable,
           os.path.abspath(__file__), "--inside"]
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
