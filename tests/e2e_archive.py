#!/usr/bin/python3
"""Issue 12 item 3: RFC 5005 archives. `tributary serve` over a loopback
upstream (tests/upstream.py) whose feed holds 23 walrus entries, with a
topic of limit = 5 (and feed_limit = 4 for /all): following prev-archive
from topics/walrus.atom (and .rss, .json, and all.atom) gives each entry
exactly once (by id); the archive pages carry fh:archive, prev-archive /
next-archive / current, are valid RFC 4287 (jing) and readable by
feedparser, and are served with "immutable" caching; after a restart with
7 more upstream entries the complete pages are byte-identical (files and
served bytes), new pages follow them, and the chain still gives every
entry exactly once. The daemon renders a page on its first request (no
hole while pages are formed); the page after the newest redirects to the
current document. HTML: the topic page and / link "Older entries" to
archive/N.html pages whose Older/Newer links walk the same pages (tidy
clean, Chromium at 390 and 1280 px: DOM and screenshots), byte-identical
after the restart too."""
import email.utils
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import (Daemon, TempDir, Upstream, free_port, http_get, jing_errors,  # noqa: E402
                    need_tool, wait_for)

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
NOW = int(time.time())


def rss(n):
    items = "".join(f"""  <item>
    <title>Walrus note {i}</title>
    <link>http://example.org/walrus/{i}</link>
    <guid>http://example.org/walrus/{i}</guid>
    <description>About walrus number {i}.</description>
    <pubDate>{email.utils.formatdate(NOW - 86400 + i * 60, usegmt=True)}</pubDate>
  </item>
""" for i in range(1, n + 1))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Walrus blog</title><link>http://example.org/</link>
<description>walruses</description>
{items}</channel></rss>
"""


def config(base, port):
    return f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/
feed_limit = 4

[source blog]
url = {base}blog.rss

[topic walrus]
title = Walruses
query = walrus
limit = 5

[topic single]
title = One a page
query = walrus
limit = 1
"""


def links(root):
    """rel -> href of an Atom feed's (or an RSS channel's atom:) links."""
    out = {}
    for el in root.iter(ATOM + "link"):
        if el.get("rel") in ("prev-archive", "next-archive", "current", "self"):
            out.setdefault(el.get("rel"), el.get("href"))
    return out


def atom_ids(root):
    return [e.find(ATOM + "id").text for e in root.findall(ATOM + "entry")]


def rss_ids(root):
    return [i.find("guid").text for i in root.find("channel").findall("item")]


def chromium(url, profile, *args):
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def no_follow(url):
    """(status, headers) of a GET that does not follow redirects."""
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request("GET", u.path)
        r = c.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def html_entries(body):
    """The entry links of an HTML archive page's cards, in order."""
    return re.findall(r'<h2><a href="([^"]+)">', body)


def older(body):
    m = re.search(r'<a href="(\d+)\.html"[^>]*>Older entries</a>', body)
    return m.group(1) if m else None


class Archive(unittest.TestCase):
    def html_chain(self, root, start, prefix):
        """Follows "Older entries" from the page start: {page url: body}."""
        out = {}
        st, _, body = http_get(start)
        self.assertEqual(st, 200, start)
        m = re.search(r'<a href="([^"]*archive/\d+\.html)">Older entries</a>', body.decode())
        self.assertIsNotNone(m, start)
        url = root + prefix + m.group(1).split("archive/")[1]
        while url:
            st, h, body = http_get(url)
            self.assertEqual(st, 200, url)
            self.assertIn("immutable", h["cache-control"], url)
            self.assertTrue(h["content-type"].startswith("text/html"), url)
            out[url] = body
            n = older(body.decode())
            url = root + prefix + n + ".html" if n else None
        return out

    def check_html(self, root, atom_pages):
        """The HTML pages hold the Atom pages' entries, page by page."""
        pages = self.html_chain(root, root + "topics/walrus.html", "topics/walrus/archive/")
        self.assertEqual(len(pages), len([u for u in atom_pages if u.endswith(".atom")
                                          and "/topics/walrus/archive/" in u]))
        for url, body in pages.items():
            atom = ET.fromstring(atom_pages[url[:-5] + ".atom"])
            self.assertEqual(html_entries(body.decode()), atom_ids(atom), url)
        allp = self.html_chain(root, root, "archive/")
        self.assertGreaterEqual(len(allp), 4)
        return pages

    def check_newest_links(self, root, pages):
        """The newest page's newer links redirect to the current document
        until the next page is formed."""
        nxt = root + f"topics/walrus/archive/{pages + 1}"
        st, h = no_follow(nxt + ".atom")
        self.assertEqual((st, h.get("location")), (302, root + "topics/walrus.atom"))
        self.assertEqual(h.get("cache-control"), "no-store")
        st, h = no_follow(nxt + ".html")
        self.assertEqual((st, h.get("location")), (302, root + "topics/walrus.html"))
        self.assertEqual(http_get(root + f"topics/walrus/archive/{pages + 2}.atom")[0], 404)
        self.assertEqual(http_get(root + "topics/walrus/archive/01.atom")[0], 404)
        self.assertEqual(http_get(root + "topics/nope/archive/1.atom")[0], 404)

    def check_nginx(self, t, root, dport):
        """contrib/nginx/tributary.conf in front: a page whose file is not
        written yet is passed to the daemon, which writes it (no .gz); then
        nginx serves the file, compressed per request; the page after the
        newest is the daemon's redirect."""
        if not shutil.which("nginx") and not tbtest.CI:
            print("nginx: not installed, front check skipped", file=sys.stderr)
            return
        need_tool("nginx")
        import e2e_package
        nport = free_port()
        main = e2e_package.Nginx.conf(self, t, nport, dport, os.path.join(t, "pub"))
        ng = subprocess.Popen(["nginx", "-c", main], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{nport}/"
            wait_for(lambda: http_get(base + "healthz")[0] == 200, 30, what="nginx up")
            rel = "topics/walrus/archive/2.json"
            self.assertFalse(os.path.exists(os.path.join(t, "pub", rel)))
            st, h, body = http_get(base + rel)
            self.assertEqual(st, 200)
            self.assertIn("immutable", h["cache-control"])
            with open(os.path.join(t, "pub", rel), "rb") as f:
                self.assertEqual(f.read(), body)
            st, h, again = http_get(base + rel)
            self.assertEqual((st, again), (200, body))
            self.assertIn("immutable", h["cache-control"])
            self.assertEqual(h["content-type"], "application/feed+json; charset=utf-8")
            # The page's file has no .gz twin: nginx compresses it.
            self.assertFalse(os.path.exists(os.path.join(t, "pub", rel + ".gz")))
            st, h, gz = http_get(base + rel, headers={"Accept-Encoding": "gzip"})
            self.assertEqual((st, h.get("content-encoding")), (200, "gzip"))
            self.assertEqual(gzip.decompress(gz), body)
            st, h = no_follow(base + "topics/walrus/archive/4.atom")
            self.assertEqual((st, h.get("location")), (302, root + "topics/walrus.atom"))
        finally:
            ng.send_signal(signal.SIGQUIT)
            ng.wait(10)

    def check_many_pages(self, root):
        """A first publish that forms many pages at once (23 entries, limit 1:
        22 pages, 1 current) links only pages that can be fetched: the whole chain is
        there at once, each entry exactly once."""
        url, ids, n = root + "topics/single.atom", [], 0
        while url:
            st, _, body = http_get(url)
            self.assertEqual(st, 200, url)
            r = ET.fromstring(body)
            ids += atom_ids(r)
            url = links(r).get("prev-archive")
            n += 1 if url else 0
        self.assertEqual(n, 22)
        self.assertEqual(sorted(ids), sorted(f"http://example.org/walrus/{i}"
                                             for i in range(1, 24)))

    def check_look(self, t, root, pages):
        """tidy finds no errors; Chromium shows the entries at 390 and 1280 px."""
        need_tool("tidy")
        need_tool("chromium")
        for url, body in pages.items():
            path = os.path.join(t, "page.html")
            with open(path, "wb") as f:
                f.write(body)
            p = subprocess.run(["tidy", "-e", "-q", path], capture_output=True, text=True)
            self.assertEqual([x for x in p.stderr.splitlines() if "Error:" in x], [], url)
            self.assertLess(p.returncode, 2, url)
        url = root + "topics/walrus/archive/2.html"
        body = pages[url].decode()
        for href in re.findall(r'href="(\.\.[^"]*)"', body):
            target = urllib.parse.urljoin(url, href)
            self.assertEqual(http_get(target)[0], 200, (href, target))
        shots = os.environ.get("TB_SHOTS", os.path.join(t, "shots"))
        os.makedirs(shots, exist_ok=True)
        for width in (390, 1280):
            profile = os.path.join(t, f"chrome-{width}")
            p = chromium(url, profile, "--dump-dom", f"--window-size={width},1400")
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            pos = [p.stdout.find(f"Walrus note {i}<") for i in range(10, 5, -1)]
            self.assertTrue(-1 not in pos and pos == sorted(pos), (width, pos))
            self.assertIn("Older entries", p.stdout)
            self.assertIn("Newer entries", p.stdout)
            # Relative links resolve to the site's stylesheet and the topic's page.
            self.assertIn('href="../../../style.css"', p.stdout)
            self.assertIn('href="../../../topics/walrus.html">Newest entries', p.stdout)
            shot = os.path.join(shots, f"archive-page-{width}.png")
            p = chromium(url, profile, f"--screenshot={shot}", f"--window-size={width},1800",
                         "--hide-scrollbars")
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            self.assertGreater(os.path.getsize(shot), 1000)
        print(f"screenshots: {shots}/archive-page-*.png", file=sys.stderr)

    def chain(self, url, fmt):
        """Follows prev-archive from the current document url: (ids in order,
        the archive pages' URLs newest first, {url: bytes})."""
        ids, pages, seen = [], [], {}
        first = True
        while url:
            st, h, body = http_get(url)
            self.assertEqual(st, 200, url)
            seen[url] = body
            if fmt == "json":
                doc = json.loads(body)
                ids += [i["id"] for i in doc["items"]]
                arch = doc.get("_archive", {})
                self.assertEqual(arch.get("prev_archive"), doc.get("next_url"))
                nxt = arch.get("prev_archive")
                is_archive = arch.get("archive") is True
            else:
                root = ET.fromstring(body)
                ids += atom_ids(root) if fmt == "atom" else rss_ids(root)
                scope = root if fmt == "atom" else root.find("channel")
                nxt = links(root).get("prev-archive")
                is_archive = scope.find(FH + "archive") is not None
            self.assertEqual(is_archive, not first, url)
            if not first:
                pages.append(url)
                self.assertIn("immutable", h["cache-control"], url)
                self.assertIn("max-age=31536000", h["cache-control"], url)
            else:
                self.assertNotIn("immutable", h["cache-control"], url)
            first = False
            url = nxt
        return ids, pages, seen

    def check_chain(self, root, fmt, total):
        ids, pages, seen = self.chain(root + "topics/walrus." + fmt, fmt)
        want = sorted(f"http://example.org/walrus/{i}" for i in range(1, total + 1))
        self.assertEqual(sorted(ids), want)  # each entry exactly once
        self.assertEqual(len(ids), len(set(ids)))
        # Pages hold exactly `limit` entries, numbered up from 1 = the oldest.
        n = len(pages)
        self.assertEqual(pages, [f"{root}topics/walrus/archive/{k}.{fmt}"
                                 for k in range(n, 0, -1)])
        self.assertEqual(len(ids) - 5 * n, len(ids) - 5 * n)
        self.assertTrue(5 <= total - 5 * n <= 9, (total, n))
        return ids, pages, seen

    def test_chain(self):
        with TempDir() as t:
            www = os.path.join(t, "www")
            os.makedirs(www)
            with open(os.path.join(www, "blog.rss"), "w", encoding="utf-8") as f:
                f.write(rss(23))
            up = Upstream(www, os.path.join(t, "up.log"))
            self.addCleanup(up.stop)
            port = free_port()
            root = f"http://127.0.0.1:{port}/"
            conf = os.path.join(t, "t.ini")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config(up.base, port))
            d = Daemon(conf, os.path.join(t, "serve.log"))
            try:
                wait_for(lambda: http_get(root + "topics/walrus/archive/3.atom")[0] == 200, 60,
                         what="the third archive page")
                self.check_nginx(t, root, port)
                self.check_many_pages(root)
                first = {}
                for fmt in ("atom", "rss", "json"):
                    ids, pages, seen = self.check_chain(root, fmt, 23)
                    # 23 entries, pages of 5 while 10 or more are left: 3 pages, 8 current.
                    self.assertEqual(len(pages), 3, fmt)
                    first.update({u: b for u, b in seen.items() if "/archive/" in u})
                # The oldest page holds the five oldest entries, newest first.
                page1 = ET.fromstring(first[root + "topics/walrus/archive/1.atom"])
                self.assertEqual(atom_ids(page1),
                                 [f"http://example.org/walrus/{i}" for i in range(5, 0, -1)])
                got = links(page1)
                self.assertNotIn("prev-archive", got)
                self.assertEqual(got["next-archive"], root + "topics/walrus/archive/2.atom")
                self.assertEqual(got["current"], root + "topics/walrus.atom")
                self.assertEqual(got["self"], root + "topics/walrus/archive/1.atom")
                page2 = ET.fromstring(first[root + "topics/walrus/archive/2.atom"])
                self.assertEqual(links(page2)["prev-archive"],
                                 root + "topics/walrus/archive/1.atom")
                for u, body in first.items():
                    if u.endswith(".atom"):
                        self.assertEqual(jing_errors(body), "", u)
                        fp = tbtest.feedparse(body)
                        self.assertFalse(fp.bozo, (u, fp.get("bozo_exception")))
                        self.assertEqual(len(fp.entries), 5, u)
                    if u.endswith(".rss"):
                        self.assertEqual(len(tbtest.feedparse(body).entries), 5, u)
                self.assertEqual(jing_errors(http_get(root + "topics/walrus.atom")[2]), "")
                # /all pages by feed_limit = 4: 23 -> 4 pages of 4, 7 current.
                ids, _, _ = self.chain_all(root)
                self.assertEqual(len(ids), 23)
                self.assertEqual(len(set(ids)), 23)
                # The topic page links its newest archive page, in HTML.
                html = http_get(root + "topics/walrus.html")[2].decode("utf-8")
                self.assertIn('<a href="walrus/archive/3.html">Older entries</a>', html)
                self.check_newest_links(root, 3)
                first.update(self.check_html(root, first))
                self.check_look(t, root, {u: b for u, b in first.items() if u.endswith(".html")})
            finally:
                self.assertEqual(d.stop(), 0)
            files = {}
            for u in first:
                rel = u[len(root):]
                with open(os.path.join(t, "pub", rel), "rb") as f:
                    files[rel] = f.read()
                self.assertEqual(files[rel], first[u], rel)
            # More upstream entries (and entry 2, archived, edited), polled by
            # `tributary fetch` (files only), then the daemon again: old pages stay
            # byte-identical, on disk and served.
            with open(os.path.join(www, "blog.rss"), "w", encoding="utf-8") as f:
                f.write(rss(30).replace("About walrus number 2.", "Walrus two, edited."))
            tbtest.run("fetch", "-c", conf)
            d = Daemon(conf, os.path.join(t, "serve2.log"))
            try:
                wait_for(lambda: http_get(root + "topics/walrus/archive/5.atom")[0] == 200, 60,
                         what="the fifth archive page")
                for fmt in ("atom", "rss", "json"):
                    ids, pages, seen = self.check_chain(root, fmt, 30)
                    # 30: 15 not archived -> pages 4 (16-20) and 5 (21-25), 5 current.
                    self.assertEqual(len(pages), 5, fmt)
                    for u, body in first.items():
                        if u.endswith("." + fmt):
                            self.assertEqual(seen[u], body, u)
                for rel, body in files.items():
                    with open(os.path.join(t, "pub", rel), "rb") as f:
                        self.assertEqual(f.read(), body, rel)
                ids, _, _ = self.chain_all(root)
                self.assertEqual(sorted(ids), sorted(set(ids)))
                self.assertEqual(len(ids), 30)
                now = {}
                for fmt in ("atom",):
                    now.update(self.check_chain(root, fmt, 30)[2])
                html = self.check_html(root, now)
                self.assertEqual(len(html), 5)
                for u, body in first.items():
                    if u.endswith(".html"):
                        self.assertEqual(html[u], body, u)
                self.check_newest_links(root, 5)
            finally:
                self.assertEqual(d.stop(), 0)

    def chain_all(self, root):
        ids, pages, seen = [], [], {}
        url = root + "all.atom"
        while url:
            st, h, body = http_get(url)
            self.assertEqual(st, 200, url)
            r = ET.fromstring(body)
            ids += atom_ids(r)
            url = links(r).get("prev-archive")
            if url:
                self.assertTrue(url.startswith(root + "archive/"), url)
                pages.append(url)
        return ids, pages, seen


if __name__ == "__main__":
    tbtest.main()
