"""Helpers shared by the daemon benchmarks (poll, ingest, serve-daemon).

Python 3 standard library only. Everything listens on 127.0.0.1; every
process a helper starts is stopped by the caller through the returned object.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GNU_TIME = "/usr/bin/time"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(*tools):
    """Exits 1 naming the first tool that is not on PATH (or not an existing path)."""
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"{os.path.basename(sys.argv[0])}: {tool} not found")


def wait_up(url, timeout=10.0):
    """Waits until url answers 200; raises RuntimeError after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


class Nginx:
    """nginx (Debian nginx-light) serving `root` statically on 127.0.0.1.

    One worker, `daemon off;`, its config, pid and logs in `prefix`. With
    access_log=True each request's status is appended to `self.access_log`,
    so a caller can count 200s and 304s per phase.
    """

    def __init__(self, prefix, root, access_log=False, port=None, sendfile=True):
        self.prefix, self.port = prefix, port or free_port()
        self.access_log = os.path.join(prefix, "access.log")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        # nginx workers run as www-data when started by root: make the tree
        # readable (a mkdtemp parent is 0700).
        for d in (os.path.dirname(prefix), prefix, os.path.dirname(root), root):
            os.chmod(d, 0o755)
        log = (f"log_format st '$status';\n    access_log {self.access_log} st;"
               if access_log else "access_log off;")
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 4096; }}
http {{
    {log}
    sendfile {'on' if sendfile else 'off'};
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ application/atom+xml atom; application/rss+xml rss; application/rdf+xml rdf; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{self.port};
        root {root};
    }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-p", prefix, "-c", conf, "-e",
                                      os.path.join(prefix, "logs", "error.log")])
        self.base = f"http://127.0.0.1:{self.port}/"

    def statuses(self, since=0):
        """(count per status from byte offset `since` of the access log, new offset)."""
        counts = {}
        if not os.path.exists(self.access_log):
            return counts, since
        with open(self.access_log, "rb") as f:
            f.seek(since)
            data = f.read()
        for line in data.split(b"\n"):
            if line:
                counts[line.decode()] = counts.get(line.decode(), 0) + 1
        return counts, since + len(data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # nginx: SIGTERM is a fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def timed(cmd, out, err, cwd=None, env=None):
    """Runs cmd under GNU time; returns (exit status, wall s, peak RSS MB or None).

    The peak RSS is GNU time's %M: the largest resident set of the process it
    waited for (for a shell script, the shell itself, not its children)."""
    rss_file = err + ".rss"
    have_time = os.access(GNU_TIME, os.X_OK)
    full = [GNU_TIME, "-f", "%M", "-o", rss_file, *cmd] if have_time else cmd
    with open(out, "wb") as o, open(err, "wb") as e:
        t0 = time.perf_counter()
        rc = subprocess.call(full, stdout=o, stderr=e, cwd=cwd, env=env)
        wall = time.perf_counter() - t0
    rss = None
    if have_time:
        try:
            with open(rss_file) as f:
                rss = int(f.read().split()[-1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
    return rc, wall, rss


def load_avg():
    """The 1-minute load average, as a string, to print next to the figures."""
    try:
        return "%.2f" % os.getloadavg()[0]
    except OSError:
        return "?"


def verdict(ok):
    return "PASS" if ok else "MISS"
