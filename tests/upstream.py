#!/usr/bin/python3
"""upstream.py: a local HTTP upstream for tributary's fetcher and daemon tests.

Run:  /usr/bin/python3 tests/upstream.py --root DIR --log FILE [--port N] [--bind ::1]
Stdlib only. Listens on 127.0.0.1 (port 0 = any free port unless --port is
given), prints the port number as the first line on stdout, then serves until
SIGTERM/SIGINT. HTTP/1.1 with keep-alive where a Content-Length is known.

Every request appends one JSON line to --log (flushed at once), written when
the response status is decided (for /hang: on arrival, status 0):
    {"path": "/feed.xml?x=1", "time": 1796000000.25,  # epoch s, when logged
     "method": "GET", "status": 200,
     "active": 2,           # requests in progress at arrival whose path has the
                            # same first segment ("slow", "feed.xml"), this one included
     "encoding": "gzip",    # Content-Encoding sent, or null
     "headers": {"If-None-Match": ..., "If-Modified-Since": ...,
                 "Accept-Encoding": ..., "User-Agent": ..., "Host": ...}}
(only the request headers of interest that were present are listed).

Paths:
  /NAME                 a file under --root: strong ETag (content hash),
                        Last-Modified (mtime), 304 on If-None-Match or
                        If-Modified-Since, gzip when the client accepts it.
                        Files may be rewritten between polls by the test.
  /status/NNN           answers status NNN with a short text body.
                        ?retry_after=S      adds "Retry-After: S"
                        ?retry_after_date=S adds Retry-After as an HTTP-date S s ahead
  /redirect/CODE?to=URL redirects with CODE (301, 302, 303, 307, 308) to URL
                        (verbatim: may be absolute, relative, file://...).
                        &n=K makes a chain: K hops of CODE before reaching URL.
  /loop                 redirects (302) to itself forever.
  /slow?bps=B&bytes=N   drips N bytes (default 64) at B bytes/s (default 1).
  /hang                 accepts, reads the request, never answers (600 s).
  /gzipbomb             Content-Encoding: gzip stream that inflates to ~8 GiB
                        of zeros (a few MB on the wire); no Content-Length.
  /chunked-endless      chunked body without end (stops after 1 GiB).
  /big?bytes=N          N bytes of 'x' with an honest Content-Length.
  /reset                promises 100000 bytes, sends 100, then resets (RST).
  /echo                 (any method) answers 200 with JSON {"method", "path",
                        "headers": every request header, "body": the request
                        body as latin-1 text}.
POST is taken on every path: its body is read (Content-Length) and the path
answered as for GET (so /status/NNN and /redirect/... work for POSTs too).
Any path also takes ?max_age=S, which adds "Cache-Control: max-age=S".
Files also take ?ctype=T, which replaces their Content-Type ("-" sends none),
and ?link=V, which adds "Link: V" to their 200 answers.
"""
import argparse
import email.utils
import gzip
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

LOGGED_HEADERS = ("If-None-Match", "If-Modified-Since", "Accept-Encoding", "User-Agent", "Host")


class State:
    """Shared between handler threads: the log file and the in-flight count."""

    def __init__(self, root, log_path):
        self.root = os.path.realpath(root)
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8")
        self.active = {}  # first path segment -> requests in progress


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstream.py"

    def log_message(self, fmt, *args):  # keep stderr quiet; the JSON log is the record
        pass

    # -- bookkeeping -----------------------------------------------------
    def record(self, status, encoding=None):
        st = self.server.state
        line = {
            "path": self.path,
            "time": time.time(),
            "method": self.command,
            "status": status,
            "active": self.active_at_start,
            "encoding": encoding,
            "headers": {h: self.headers[h] for h in LOGGED_HEADERS if h in self.headers},
        }
        with st.lock:
            st.log.write(json.dumps(line) + "\n")
            st.log.flush()

    def begin(self, status, headers=(), encoding=None, length=None):
        """Logs the request, then sends the status line and headers."""
        self.record(status, encoding)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if self.max_age is not None:
            self.send_header("Cache-Control", f"max-age={self.max_age}")
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def simple(self, status, body=b"", headers=()):
        self.begin(status, headers, length=len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- dispatch --------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.post_body = self.rfile.read(n) if n > 0 else b""
        self.do_GET()

    def echo(self, args):
        body = json.dumps({"method": self.command, "path": self.path,
                           "headers": {k: v for k, v in self.headers.items()},
                           "body": getattr(self, "post_body", b"").decode("latin-1")}).encode()
        self.simple(200, body, [("Content-Type", "application/json")])

    def do_GET(self):
        st = self.server.state
        url = urlsplit(self.path)
        key = url.path.strip("/").split("/")[0]
        with st.lock:
            st.active[key] = st.active.get(key, 0) + 1
            self.active_at_start = st.active[key]
        self.active_key = key
        try:
            self.q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self.max_age = self.q.get("max_age")
            self.route(url.path)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.leave()

    def leave(self):
        """Stops counting this request as active (once)."""
        st = self.server.state
        with st.lock:
            if self.active_key is not None:
                st.active[self.active_key] -= 1
                self.active_key = None

    def route(self, path):
        parts = path.strip("/").split("/")
        special = {
            "status": self.status,
            "redirect": self.redirect,
            "loop": self.loop,
            "slow": self.slow,
            "hang": self.hang,
            "gzipbomb": self.gzipbomb,
            "chunked-endless": self.chunked_endless,
            "big": self.big,
            "reset": self.reset,
            "echo": self.echo,
        }
        if parts[0] in special:
            special[parts[0]](parts[1:])
        else:
            self.file(path)

    # -- files with validators -------------------------------------------
    def file(self, path):
        root = self.server.state.root
        full = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            self.simple(404, b"not found\n")
            return
        with open(full, "rb") as f:
            data = f.read()
        mtime = int(os.stat(full).st_mtime)
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        validators = [("ETag", etag), ("Last-Modified", email.utils.formatdate(mtime, usegmt=True))]
        if self.not_modified(etag, mtime):
            self.simple(304, b"", validators)
            return
        ctype = "application/xml; charset=utf-8" if full.endswith((".xml", ".rss", ".atom")) else "application/octet-stream"
        ctype = self.q.get("ctype", ctype)
        headers = validators + [("Vary", "Accept-Encoding")]
        if ctype != "-":
            headers.append(("Content-Type", ctype))
        if "link" in self.q:
            headers.append(("Link", self.q["link"]))
        encoding = None
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            data, encoding = gzip.compress(data), "gzip"
        self.begin(200, headers, encoding, len(data))
        if self.command != "HEAD":
            self.wfile.write(data)

    def not_modified(self, etag, mtime):
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
        ims = self.headers.get("If-Modified-Since")
        if ims is not None:
            try:
                return mtime <= email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    # -- special paths ---------------------------------------------------
    def status(self, args):
        code = int(args[0]) if args and args[0].isdigit() else 500
        headers = []
        if "retry_after" in self.q:
            headers.append(("Retry-After", self.q["retry_after"]))
        if "retry_after_date" in self.q:
            when = time.time() + int(self.q["retry_after_date"])
            headers.append(("Retry-After", email.utils.formatdate(when, usegmt=True)))
        self.simple(code, f"status {code}\n".encode(), headers)

    def redirect(self, args):
        code = int(args[0]) if args and args[0].isdigit() else 302
        n = int(self.q.get("n", "1"))
        to = self.q.get("to", "/")
        if n > 1:
            to = f"/redirect/{code}?n={n - 1}&to={quote(to, safe='')}"
        self.simple(code, b"moved\n", [("Location", to)])

    def loop(self, args):
        self.simple(302, b"loop\n", [("Location", "/loop")])

    def slow(self, args):
        bps = max(1, int(self.q.get("bps", "1")))
        total = int(self.q.get("bytes", "64"))
        self.begin(200, [("Content-Type", "text/plain")], length=total)
        for i in range(total):
            time.sleep(1.0 / bps)
            if i == total - 1:
                self.leave()  # before the client can see the end, for exact "active" counts
            self.wfile.write(b"s")
            self.wfile.flush()

    def hang(self, args):
        self.record(0)
        self.close_connection = True
        time.sleep(600)

    def gzipbomb(self, args):
        self.begin(200, [("Content-Type", "application/xml")], "gzip")
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(1 << 20)
        for _ in range(8192):
            out = comp.compress(zeros)
            if out:
                self.wfile.write(out)
        self.wfile.write(comp.flush())

    def chunked_endless(self, args):
        self.record(200)
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        chunk = b"<x>" + b"y" * 65530 + b"</x>"
        for _ in range((1 << 30) // len(chunk)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def big(self, args):
        total = int(self.q.get("bytes", "1048576"))
        self.begin(200, [("Content-Type", "text/plain")], length=total)
        block = b"x" * 65536
        while total > 0:
            n = min(total, len(block))
            self.wfile.write(block[:n])
            total -= n

    def reset(self, args):
        self.begin(200, [("Content-Type", "application/xml")], length=100000)
        self.wfile.write(b"<rss>" + b"r" * 95)
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Clients that hang up (timeouts, size caps) are expected: stay quiet."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="directory of files to serve")
    ap.add_argument("--log", required=True, help="JSON-lines request log (appended)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1", help="127.0.0.1, or ::1 for a second host")
    args = ap.parse_args()
    if ":" in args.bind:
        Server.address_family = socket.AF_INET6
    server = Server((args.bind, args.port), Handler)
    server.state = State(args.root, args.log)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
