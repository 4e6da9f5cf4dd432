#!/usr/bin/python3
"""`tributary serve` resolves papers no source carries through the arXiv API:
a stand-in for the API on loopback (this file's own small HTTP server, which
records each request) answers as arXiv does. Checked: the papers a
newsletter links and the one a Hacker News-style "[pdf] ..." item carries
are asked in one batched request; an HTTP 500 is retried later, at least
3 s after the failed request; the resolved papers are stored with their real
titles and abstracts (/all.atom, atom:source naming arXiv) and arXiv's title
replaces the HN poster's; each paper is asked once. With more papers
pending than `[trending] arxiv_batch` (a test knob, default 100), requests
are at most that big and at least 3 s apart. Nothing touches the internet."""
import html
import os
import sys
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import SLOW, Daemon, TempDir, free_port, http_get, wait_for  # noqa: E402

GAP = 3.0  # arXiv's terms: at least 3 s between requests


def seed_papers():
    """(title, abstract) pairs of tests/fixtures/seed-papers.txt."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "fixtures", "seed-papers.txt"), encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if not ln.startswith("#")]
    out, i = [], 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        out.append((lines[i], lines[i + 1]))
        i += 2
    return out


PAPERS = seed_papers()
IDS = ["2411.00001", "2108.02388", "2010.00904", "2306.11111", "2404.15574",
       "2305.00005", "2305.00006"]
BY_ID = {pid: PAPERS[i] for i, pid in enumerate(IDS)}


def api_entry(pid):
    title, abstract = BY_ID[pid]
    return f"""<entry>
    <id>http://arxiv.org/abs/{pid}v1</id>
    <updated>2024-11-02T17:59:01Z</updated>
    <published>2024-11-01T10:00:00Z</published>
    <title>{html.escape(title, quote=False)}</title>
    <summary>  {html.escape(abstract, quote=False)}
</summary>
    <author><name>Ada Lovelace</name></author>
    <author><name>Alan Turing</name></author>
    <link href="http://arxiv.org/abs/{pid}v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{pid}v1" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CL"
      scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>"""


def api_answer(ids):
    entries = "\n  ".join(api_entry(pid) for pid in ids if pid in BY_ID)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?id_list={','.join(ids)}" rel="self"
    type="application/atom+xml"/>
  <title type="html">ArXiv Query: id_list={','.join(ids)}</title>
  <id>http://arxiv.org/api/stand-in</id>
  <updated>2024-12-07T00:00:00-05:00</updated>
  {entries}
</feed>
"""


def now_3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))


def newsletter(ids):
    """Dated an hour ago: only papers voiced within the trending window are asked."""
    when = now_3339()
    links = "".join(f'&lt;a href="https://arxiv.org/abs/{pid}v2"&gt;paper&lt;/a&gt; '
                    for pid in ids)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:news</id><title>The Letter</title>
<link href="https://news.example/"/>
<updated>{when}</updated>
<entry><id>urn:news:1</id><title>Issue 1</title><link href="https://news.example/1"/>
<updated>{when}</updated>
<content type="html">&lt;p&gt;{links}&lt;/p&gt;</content></entry>
</feed>"""


def hn(pid):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Hacker News: arxiv.org</title>
<link>https://news.ycombinator.com/</link><description>HN</description>
<item><title>[pdf] something about entities</title>
<link>https://arxiv.org/pdf/{pid}</link>
<comments>https://news.ycombinator.com/item?id=1</comments>
<pubDate>{time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(time.time() - 3600))}</pubDate></item>
</channel></rss>"""


class StandIn:
    """Feeds at /news.atom and /hn.rss, the API at /api; records API requests."""

    def __init__(self, files, fail_first=0):
        self.files, self.fail_left = files, fail_first
        self.requests = []  # (monotonic time, [ids], max_results, status)
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path == "/api":
                    q = urllib.parse.parse_qs(u.query)
                    ids = q.get("id_list", [""])[0].split(",")
                    with outer.lock:
                        fail = outer.fail_left > 0
                        outer.fail_left -= fail
                        outer.requests.append((time.monotonic(), ids,
                                               q.get("max_results", [""])[0],
                                               500 if fail else 200))
                    if fail:
                        body, status, ctype = b"overloaded", 500, "text/plain"
                    else:
                        body, status = api_answer(ids).encode(), 200
                        ctype = "application/atom+xml"
                elif u.path.lstrip("/") in outer.files:
                    body, status = outer.files[u.path.lstrip("/")].encode(), 200
                    ctype = "application/xml"
                else:
                    body, status, ctype = b"no", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.srv.server_address[1]}/"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def api(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def config(up, port, extra=""):
    return f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/

[source news]
url = {up.base}news.atom

[source hn]
url = {up.base}hn.rss

[topic grounding]
query = "visual grounding"

[trending]
arxiv_api = {up.base}api
arxiv_retry = 1s
{extra}
"""


class Arxiv(unittest.TestCase):
    def run_daemon(self, t, up, extra=""):
        port = free_port()
        conf = os.path.join(t, "t.ini")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(config(up, port, extra))
        return Daemon(conf, os.path.join(t, "serve.log")), f"http://127.0.0.1:{port}/"

    def test_resolve_batch_retry_and_precedence(self):
        linked, carried = IDS[:3], IDS[3]
        with TempDir() as t:
            up = StandIn({"news.atom": newsletter(linked), "hn.rss": hn(carried)},
                         fail_first=1)
            d, base = self.run_daemon(t, up)
            try:
                want = sorted(linked + [carried])

                def answered():
                    return sorted(p for r in up.api() if r[3] == 200 for p in r[1])
                wait_for(lambda: answered() == want, 60, what="every paper answered")
                reqs = up.api()
                # Batched: the first request asked for every paper voiced by
                # then (both sources' when their polls end within the settle
                # time; a busy machine can split them), with max_results its
                # size; it failed (500), and its ids were asked again, a gap
                # later; every paper was answered exactly once.
                self.assertEqual(reqs[0][3], 500, reqs)
                self.assertGreater(len(reqs[0][1]), 1, reqs)
                for r in reqs:
                    self.assertEqual(r[2], str(len(r[1])), reqs)
                again = [r for r in reqs[1:] if set(reqs[0][1]) & set(r[1])]
                self.assertTrue(again, reqs)
                self.assertTrue(set(reqs[0][1]) <= {p for r in again for p in r[1]}, reqs)
                self.assertGreaterEqual(again[0][0] - reqs[0][0], GAP - 0.05)
                for a, b in zip(reqs, reqs[1:]):
                    self.assertGreaterEqual(b[0] - a[0], GAP - 0.05, reqs)
                asked = len(reqs)

                def resolved():
                    st, _, body = http_get(base + "all.atom")
                    return st == 200 and all(
                        html.escape(BY_ID[p][0], quote=False).encode() in body
                        for p in linked + [carried])
                wait_for(resolved, 30, what="the resolved papers in /all.atom")
                _, _, body = http_get(base + "all.atom")
                text = body.decode()
                for p in linked + [carried]:
                    title, abstract = BY_ID[p]
                    self.assertIn(html.escape(abstract[:80], quote=False), text)
                # arXiv's record is what the HN item's paper shows now.
                self.assertNotIn("[pdf] something", text)
                self.assertIn("<name>Ada Lovelace</name>", text)
                # Each resolved paper's atom:source names arXiv.
                self.assertEqual(text.count('<title type="text">arXiv</title>'), 4, text)
                # Topics match a resolved paper like any other entry (by its
                # abstract: the newsletter only says "paper").
                st, _, body = http_get(base + "topics/grounding.atom")
                self.assertEqual(st, 200)
                self.assertIn(b"TransRefer3D", body)
                self.assertNotIn(b"Autoregressive Entity Retrieval", body)
                # Each paper is asked once: nothing more in the next gaps.
                time.sleep(2 * GAP * SLOW)
                self.assertEqual(len(up.api()), asked, up.api())
                self.assertTrue(d.alive())
            finally:
                rc = d.stop()
                up.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])

    def test_batches_apart(self):
        with TempDir() as t:
            up = StandIn({"news.atom": newsletter(IDS[:5]), "hn.rss": hn(IDS[5])})
            d, base = self.run_daemon(t, up, "arxiv_batch = 2")
            try:
                # Three requests when both polls end within the settle time;
                # a busy machine can split the newsletter's five from the
                # HN item's one (four): each paper asked once either way.
                wait_for(lambda: sorted(p for r in up.api() for p in r[1]) == sorted(IDS[:6]), 60,
                         what="every paper asked")
                time.sleep(GAP * SLOW)
                reqs = up.api()
                self.assertIn(len(reqs), (3, 4), reqs)
                asked = sorted(pid for r in reqs for pid in r[1])
                self.assertEqual(asked, sorted(IDS[:6]))
                for a, b in zip(reqs, reqs[1:]):
                    self.assertLessEqual(len(a[1]), 2)
                    self.assertGreaterEqual(b[0] - a[0], GAP - 0.05, reqs)
            finally:
                rc = d.stop()
                up.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
