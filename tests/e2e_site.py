#!/usr/bin/python3
"""The reading site as a person sees it: `tributary serve` over loopback
upstreams (arXiv-style RSS, a Hugging Face-style daily papers feed, a Hacker
News-style feed whose discussion links an arXiv paper, a blog with a hostile title) writes
and serves /, /index.html, /style.css, /topics/NAME.html, /trending.html
and /trending/NAME.html; tidy finds no
errors in any page; headless Chromium shows the trending papers in score
order at 390 px and 1280 px (screenshots kept next to the binary, in
build/ for the plain build). Without upstreams, the page says why it is
empty."""
import email.utils
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import BIN, Daemon, TempDir, Upstream, free_port, http_get, need_tool, wait_for  # noqa: E402,E501

NOW = int(time.time())


def rfc822(ago):
    return email.utils.formatdate(NOW - ago, usegmt=True)


def iso(ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - ago))


LONG = ("We study walruses. " * 40).strip()

ARXIV_RSS = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>cs.CL updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.CL</link>
<description>cs.CL</description>
<item><title>Walrus attention is all you need</title><link>https://arxiv.org/abs/2403.05577</link>
<description>arXiv:2403.05577v1 Announce Type: new Abstract: {LONG}</description>
<guid isPermaLink="false">oai:arXiv.org:2403.05577v1</guid><category>cs.CL</category>
<pubDate>{rfc822(3600)}</pubDate><dc:creator>Ada Lovelace, Alan Turing</dc:creator></item>
<item><title>Sparse attention tokens</title><link>https://arxiv.org/abs/2403.05578</link>
<description>arXiv:2403.05578v1 Announce Type: new Abstract: Fewer tokens.</description>
<guid isPermaLink="false">oai:arXiv.org:2403.05578v1</guid><category>cs.CL</category>
<pubDate>{rfc822(3600)}</pubDate><dc:creator>Grace Hopper</dc:creator></item>
<item><title>A lonely attention paper</title><link>https://arxiv.org/abs/2403.05579</link>
<description>arXiv:2403.05579v1 Announce Type: new Abstract: Nobody reads it.</description>
<guid isPermaLink="false">oai:arXiv.org:2403.05579v1</guid><category>cs.CL</category>
<pubDate>{rfc822(3600)}</pubDate><dc:creator>Edsger Dijkstra</dc:creator></item>
</channel></rss>"""

HF_ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:hf</id><title>Daily papers</title>
<updated>{iso(600)}</updated>
<entry><id>urn:hf:1</id><title>Walrus attention is all you need</title>
<link href="https://huggingface.co/papers/2403.05577"/><updated>{iso(600)}</updated>
<summary>{LONG}</summary></entry>
<entry><id>urn:hf:2</id><title>Sparse attention tokens</title>
<link href="https://huggingface.co/papers/2403.05578"/><updated>{iso(600)}</updated>
<summary>Upvoted.</summary></entry>
</feed>"""

HN_RSS = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Hacker News: arxiv.org</title>
<link>https://news.ycombinator.com/</link><description>HN</description>
<item><title>Walruses attend (2024)</title><link>https://news.ycombinator.com/item?id=1</link>
<pubDate>{rfc822(300)}</pubDate>
<description>&lt;a href="https://arxiv.org/pdf/2403.05577v2"&gt;paper&lt;/a&gt;</description></item>
</channel></rss>"""

BLOG_ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:blog</id><title>A blog</title>
<updated>{iso(7200)}</updated>
<entry><id>urn:blog:1</id><title>&lt;script&gt;alert('t')&lt;/script&gt; attention notes</title>
<link href="https://blog.example/1"/><updated>{iso(90000)}</updated>
<summary>On attention, &lt;b&gt;bold&lt;/b&gt;.</summary></entry>
</feed>"""

TITLES = ["Walrus attention is all you need", "Sparse attention tokens",
          "A lonely attention paper"]


def config(base, port):
    return f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/
title = Morning papers
description = What our sources talk about

[source arxiv-cs-cl]
url = {base}cl.rss
title = arXiv cs.CL
group = arxiv

[source hf]
url = {base}hf.atom
title = Hugging Face daily papers

[source hn]
url = {base}hn.rss
title = Hacker News

[source blog]
url = {base}blog.atom
title = A blog

[topic attention]
title = Attention
query = attention

[topic vision]
title = Vision
query = vision
"""


def chromium(url, profile, *args):
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def tidy_errors(path):
    p = subprocess.run(["tidy", "-e", "-q", path], capture_output=True, text=True)
    return p.returncode, [line for line in p.stderr.splitlines() if "Error:" in line]


def order(text, titles):
    pos = [text.find(t) for t in titles]
    return pos


class Site(unittest.TestCase):
    def test_pages(self):
        need_tool("tidy")
        need_tool("chromium")
        shots = os.path.dirname(os.path.abspath(BIN))
        with TempDir() as t:
            www = os.path.join(t, "www")
            os.makedirs(www)
            for name, text in {"cl.rss": ARXIV_RSS, "hf.atom": HF_ATOM, "hn.rss": HN_RSS,
                               "blog.atom": BLOG_ATOM}.items():
                with open(os.path.join(www, name), "w", encoding="utf-8") as f:
                    f.write(text)
            up = Upstream(www, os.path.join(t, "up.log"))
            port = free_port()
            root = f"http://127.0.0.1:{port}/"
            conf = os.path.join(t, "t.ini")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config(up.base, port))
            d = Daemon(conf, os.path.join(t, "serve.log"))
            try:
                def ready():
                    st, _, body = http_get(root)
                    text = body.decode("utf-8", "replace") if st == 200 else ""
                    return "3 sources" in text and "attention notes" in http_get(
                        root + "topics/attention.html")[2].decode("utf-8", "replace")
                wait_for(ready, 60, what="the trending page with 3 sources")
                wait_for(lambda: "3 sources" in http_get(root + "trending.html")[2].decode(
                    "utf-8", "replace"), 20, what="trending.html with 3 sources")
                st, h, body = http_get(root)
                page = body.decode("utf-8")
                self.assertEqual(st, 200)
                self.assertTrue(h["content-type"].startswith("text/html"))
                self.assertEqual(http_get(root + "index.html")[2], body)
                pos = order(page, TITLES)
                self.assertTrue(0 < pos[0] < pos[1] < pos[2], pos)
                self.assertIn("<h1>Morning papers</h1>", page)
                said = re.search(r"3 sources: (.*?)</span>", page)
                self.assertIsNotNone(said)
                # Each source links its own copy or post: the same paper from
                # arXiv and Hugging Face (whose entry id is no URL), and the
                # Hacker News discussion that mentions it.
                own = {"arXiv cs.CL": "https://arxiv.org/abs/2403.05577",
                       "Hugging Face daily papers": "https://huggingface.co/papers/2403.05577",
                       "Hacker News": "https://news.ycombinator.com/item?id=1"}
                self.assertEqual(dict((n, h) for h, n in re.findall(
                    r'<a href="([^"]*)">([^<]*)</a>', said.group(1))), own)
                # The feeds say the same: "Also in" links Hugging Face's copy
                # (arXiv's record is the entry's origin; the feeds name a
                # source by its feed's title), "Mentioned by" each voice's own
                # entry.
                # (The trending feeds are rewritten at most every 10 s.)
                def first_entry():
                    atom = http_get(root + "trending.atom")[2].decode("utf-8", "replace")
                    return atom[atom.find("<entry>"):atom.find("</entry>")]
                wait_for(lambda: "Mentioned by 3 sources" in first_entry(), 30,
                         what="trending.atom with 3 voices")
                first = first_entry()
                self.assertIn("Also in: &lt;a href=&quot;https://huggingface.co/papers/2403.05577"
                              "&quot;&gt;Daily papers&lt;/a&gt;", first)
                for href in own.values():
                    self.assertIn(f"&lt;a href=&quot;{href}&quot;&gt;", first)
                self.assertIn('href="https://arxiv.org/pdf/2403.05577">PDF</a>', page)
                self.assertIn("<details>", page)
                self.assertNotIn("<script", page)
                st, h, css = http_get(root + "style.css")
                self.assertEqual(st, 200)
                self.assertTrue(h["content-type"].startswith("text/css"))
                self.assertIn(b"prefers-color-scheme:dark", css)
                topic = http_get(root + "topics/attention.html")[2].decode("utf-8")
                self.assertNotIn("<script", topic)
                self.assertIn("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; attention notes",
                              topic)
                self.assertIn('href="../topics/attention.atom"', topic)
                self.assertIn('<a href="../trending/attention.html">All trending in Attention</a>',
                              topic)
                self.assertIn('<a href="trending.html">All trending papers</a>', page)
                # The trending pages: the front page's cards in score order, with the
                # trending feeds' autodiscovery links and subscribe box.
                st, h, body = http_get(root + "trending.html")
                self.assertEqual(st, 200)
                self.assertTrue(h["content-type"].startswith("text/html"))
                trend = body.decode("utf-8")
                pos = order(trend, TITLES)
                self.assertTrue(0 < pos[0] < pos[1] < pos[2], pos)
                self.assertIn("<h1>Trending papers</h1>", trend)
                self.assertIn('<link rel="alternate" type="application/atom+xml" '
                              'title="Trending papers (Atom)" href="trending.atom">', trend)
                self.assertIn(f'value="{root}trending.atom"', trend)
                self.assertNotIn("<script", trend)
                st, _, body = http_get(root + "trending/attention.html")
                self.assertEqual(st, 200)
                trend = body.decode("utf-8")
                pos = order(trend, TITLES)
                self.assertTrue(0 < pos[0] < pos[1] < pos[2], pos)
                self.assertIn('href="../trending/attention.rss"', trend)
                self.assertIn(f'value="{root}trending/attention.atom"', trend)
                # Each feed names its HTML page: a Link header and its alternate link.
                for feed, html in [("topics/attention", "topics/attention.html"), ("all", ""),
                                   ("trending", "trending.html"),
                                   ("trending/attention", "trending/attention.html")]:
                    for ext in ("atom", "rss", "json"):
                        st, h, doc = http_get(root + feed + "." + ext)
                        self.assertEqual(st, 200)
                        self.assertEqual(h["link"],
                                         f'<{root}{html}>; rel="alternate"; type="text/html", '
                                         f'<{root}websub>; rel="hub", '
                                         f'<{root}{feed}.{ext}>; rel="self"')
                        self.assertIn(f"{root}{html}".encode(), doc)
                atom = http_get(root + "topics/attention.atom")[2].decode()
                self.assertIn(f'<link rel="alternate" href="{root}topics/attention.html"'
                              ' type="text/html"/>', atom)
                # The same pages are files in public_dir; tidy finds no errors in any.
                pub = os.path.join(t, "pub")
                for rel in ["index.html", "topics/attention.html", "topics/vision.html",
                            "trending.html", "trending/attention.html", "trending/vision.html"]:
                    path = os.path.join(pub, rel)
                    self.assertTrue(os.path.exists(path), rel)
                    rc, errs = tidy_errors(path)
                    self.assertEqual(errs, [], rel)
                    self.assertLess(rc, 2, rel)
                # Headless Chromium: the DOM shows the papers in order; screenshots kept.
                for name, url in [("index", root), ("topic", root + "topics/attention.html"),
                                  ("trending", root + "trending.html")]:
                    p = chromium(url, os.path.join(t, "chrome-" + name), "--dump-dom")
                    self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                    dom = p.stdout
                    pos = order(dom, TITLES)
                    self.assertTrue(0 < pos[0] < pos[1] < pos[2], (name, pos))
                    self.assertEqual(re.findall(r"<script", dom), [])
                    for width in (390, 1280):
                        shot = os.path.join(shots, f"site-{name}-{width}.png")
                        p = chromium(url, os.path.join(t, "chrome-" + name),
                                     f"--screenshot={shot}", f"--window-size={width},1400",
                                     "--hide-scrollbars")
                        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                        self.assertGreater(os.path.getsize(shot), 1000)
                    # The dark scheme, for a person to look at.
                    shot = os.path.join(shots, f"site-{name}-390-dark.png")
                    p = chromium(url, os.path.join(t, "chrome-" + name), f"--screenshot={shot}",
                                 "--window-size=390,1400", "--hide-scrollbars",
                                 "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
                    self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                print(f"screenshots: {shots}/site-*.png", file=sys.stderr)
            finally:
                rc = d.stop()
                up.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])

    def test_offline_says_why(self):
        with TempDir() as t:
            port, dead = free_port(), free_port()
            conf = os.path.join(t, "t.ini")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config(f"http://127.0.0.1:{dead}/", port))
            d = Daemon(conf, os.path.join(t, "serve.log"))
            root = f"http://127.0.0.1:{port}/"
            try:
                want = "No papers yet: 4 of 4 sources failed at their last poll (offline?)."

                def said():
                    st, _, body = http_get(root)
                    return st == 200 and want in body.decode("utf-8", "replace")
                wait_for(said, 60, what="the index saying why it is empty")
            finally:
                rc = d.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])


if __name__ == "__main__":
    tbtest.main()
