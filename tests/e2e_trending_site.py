#!/usr/bin/python3
"""Issue 10 item 7, as a person would meet it, in one run: `tributary serve`
over loopback upstreams (tests/upstream.py): two arXiv listings written as
arXiv writes its RSS (one group), a Hugging Face daily-papers feed, a Hacker
News feed whose items link arXiv papers (one a "[pdf] ..." item titled by
its poster), a newsletter whose issues link several papers, a blog naming
one paper in three posts, a weight-0 aggregator, and a stand-in for the
arXiv API (a static Atom answer). Checked: the trending order in
trending.atom (corroboration beats a single voice, a group counts once,
weight 0 counts nothing, papers voiced only before the window drop out, a
paper only linked to is resolved and listed with its real title and
abstract); then headless Chromium opens /, /trending.html and a topic page
at 390 and 1280 px: the DOM shows the titles in that order, screenshots are
kept next to the binary (build/trending-site-*.png), and tidy finds no
error in any page (index, trending, trending/TOPIC, topics/*)."""
import email.utils
import html
import os
import re
import subprocess
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_arxiv  # noqa: E402  (its arXiv API stand-in)
import tbtest  # noqa: E402
from tbtest import (BIN, Daemon, TempDir, Upstream, free_port, http_get,  # noqa: E402
                    need_tool, wait_for)

ATOM = "{http://www.w3.org/2005/Atom}"
TB = "{https://tributary.dev/ns/1.0}"
NOW = int(time.time())
HOUR, DAY = 3600, 86400

# The papers, in the order they must trend (OLD must not), with the groups
# that voice each within the window.
P1 = "2503.00001"  # arXiv (both listings), Hugging Face, Hacker News, newsletter: 4
P3 = "2503.00003"  # arXiv, newsletter, blog (three posts): 3
P5 = "2503.00005"  # Hacker News "[pdf] ..." item, newsletter: 2; resolved by the API
P6 = "2503.00006"  # newsletter only: 1; resolved by the API
P2 = "2503.00002"  # arXiv cs.CL and cs.LG (one group) and the weight-0 aggregator: 1
OLD = "2503.00009"  # arXiv and newsletter, ten days ago: outside the 2-day window
ORDER = [P1, P3, P5, P6, P2]
GROUPS = [4, 3, 2, 1, 1]

TITLE = {P1: "Corroborated walrus attention", P3: "Blogged walrus attention",
         P5: "Tusk-aware walrus attention, resolved", P6: "Linked-only walrus attention",
         P2: "Cross-listed walrus attention", OLD: "Old walrus attention"}
ABSTRACT = {p: f"We show that {TITLE[p].lower()} helps walruses read {n} papers a morning."
            for n, p in enumerate(TITLE)}
POSTER_TITLE = "[pdf] walruses, tusks and attention"
TITLES = [TITLE[p] for p in ORDER]


def rfc822(ago):
    return email.utils.formatdate(NOW - ago, usegmt=True)


def arxiv_date(ago):
    """arXiv's pubDate: a numeric zone, its announce time in New York."""
    return time.strftime("%a, %d %b %Y %H:%M:%S -0400", time.gmtime(NOW - ago - 4 * HOUR))


def iso(ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - ago))


def arxiv_item(pid, cat, ago, cross=False):
    kind = "cross" if cross else "new"
    return f"""    <item>
      <title>{TITLE[pid]}</title>
      <link>https://arxiv.org/abs/{pid}</link>
      <description>arXiv:{pid}v1 Announce Type: {kind} 
Abstract: {ABSTRACT[pid]}</description>
      <guid isPermaLink="false">oai:arXiv.org:{pid}v1</guid>
      <category>{cat}</category>
      <pubDate>{arxiv_date(ago)}</pubDate>
      <arxiv:announce_type>{kind}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>Ada Lovelace, Alan Turing, Grace Hopper</dc:creator>
    </item>
"""


def arxiv_rss(cat, items):
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" \
version="2.0">
  <channel>
    <title>{cat} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{cat}</link>
    <description>{cat} updates on the arXiv.org e-print archive.</description>
    <atom:link href="http://rss.arxiv.org/rss/{cat}" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>{rfc822(2 * HOUR)}</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>{arxiv_date(2 * HOUR)}</pubDate>
    <skipDays>
      <day>Sunday</day>
      <day>Saturday</day>
    </skipDays>
{"".join(items)}  </channel>
</rss>
"""


def hf_rss():
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Hugging Face daily papers</title>
<link>https://huggingface.co/papers</link><description>Daily papers</description>
<item><title>{TITLE[P1]}</title><link>https://huggingface.co/papers/{P1}</link>
<guid>https://huggingface.co/papers/{P1}</guid><pubDate>{rfc822(HOUR)}</pubDate>
<description>{ABSTRACT[P1]}</description></item>
</channel></rss>
"""


def hn_rss():
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Hacker News: arxiv.org</title>
<link>https://news.ycombinator.com/</link><description>Hacker News RSS</description>
<item><title>Walruses can attend now</title><link>https://arxiv.org/abs/{P1}v2</link>
<guid isPermaLink="false">https://news.ycombinator.com/item?id=101</guid>
<pubDate>{rfc822(HOUR)}</pubDate>
<description>&lt;a href="https://news.ycombinator.com/item?id=101"&gt;Comments&lt;/a&gt;</description>
</item>
<item><title>{POSTER_TITLE}</title><link>https://arxiv.org/pdf/{P5}v1</link>
<guid isPermaLink="false">https://news.ycombinator.com/item?id=102</guid>
<pubDate>{rfc822(HOUR)}</pubDate>
<description>&lt;a href="https://news.ycombinator.com/item?id=102"&gt;Comments&lt;/a&gt;</description>
</item>
</channel></rss>
"""


def newsletter():
    issue = (f'&lt;p&gt;This week: &lt;a href="https://arxiv.org/pdf/{P1}v2"&gt;one&lt;/a&gt;, '
             f'&lt;a href="http://export.arxiv.org/abs/{P3}"&gt;two&lt;/a&gt;, '
             f'&lt;a href="https://www.arxiv.org/abs/{P5}v1"&gt;three&lt;/a&gt; and '
             f'&lt;a href="https://huggingface.co/papers/{P6}"&gt;four&lt;/a&gt;.&lt;/p&gt;')
    old = f'&lt;p&gt;&lt;a href="https://arxiv.org/abs/{OLD}"&gt;An old one&lt;/a&gt;&lt;/p&gt;'
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:letter</id><title>The Walrus Letter</title>
<link href="https://letter.example/"/><updated>{iso(HOUR)}</updated>
<entry><id>https://letter.example/12</id><title>Issue 12</title>
<link href="https://letter.example/12"/><published>{iso(HOUR)}</published>
<updated>{iso(HOUR)}</updated><content type="html">{issue}</content></entry>
<entry><id>https://letter.example/11</id><title>Issue 11</title>
<link href="https://letter.example/11"/><published>{iso(10 * DAY)}</published>
<updated>{iso(10 * DAY)}</updated><content type="html">{old}</content></entry>
</feed>
"""


def blog():
    posts = "".join(f"""<item><title>Walrus notes, part {i}</title>
<link>https://blog.example/{i}</link><pubDate>{rfc822((i + 1) * HOUR)}</pubDate>
<description>Still thinking about &lt;a href="https://arxiv.org/abs/{P3}"&gt;this \
paper&lt;/a&gt;.</description></item>""" for i in range(3))
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>A walrus blog</title>
<link>https://blog.example/</link><description>Notes</description>{posts}</channel></rss>
"""


def aggregator():
    posts = "".join(f"""<item><title>Link dump {i}</title>
<link>https://agg.example/{i}</link><pubDate>{rfc822(HOUR)}</pubDate>
<description>&lt;a href="https://arxiv.org/abs/{P2}"&gt;{P2}&lt;/a&gt;</description></item>"""
                    for i in range(2))
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Link aggregator</title>
<link>https://agg.example/</link><description>Links</description>{posts}</channel></rss>
"""


def config(base, api, port):
    return f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/
title = Walrus papers this morning
description = Papers our sources talk about, ranked by how many of them do

[trending]
window = 2d
half_life = 1d
limit = 30
arxiv_api = {api}
arxiv_retry = 1s

[source arxiv-cs-cl]
url = {base}cl.rss
title = arXiv cs.CL
group = arxiv

[source arxiv-cs-lg]
url = {base}lg.rss
title = arXiv cs.LG
group = arxiv

[source hf]
url = {base}hf.rss
title = Hugging Face daily papers

[source hn]
url = {base}hn.rss
title = Hacker News

[source letter]
url = {base}letter.atom
title = The Walrus Letter

[source blog]
url = {base}blog.rss
title = A walrus blog

[source agg]
url = {base}agg.rss
title = Link aggregator
weight = 0

[topic walrus]
title = Walruses
query = walrus

[topic vision]
title = Vision
query = vision
"""


def entries(doc):
    return ET.fromstring(doc).findall(ATOM + "entry")


def paper(e):
    """The arXiv id an Atom entry is, from its link."""
    m = re.search(r"(\d{4}\.\d{5})", e.find(ATOM + "link[@rel='alternate']").get("href"))
    return m.group(1) if m else None


def chromium(url, profile, *args):
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def tidy_errors(path):
    p = subprocess.run(["tidy", "-e", "-q", path], capture_output=True, text=True)
    return p.returncode, [line for line in p.stderr.splitlines() if "Error:" in line]


def positions(text, titles):
    return [text.find(html.escape(t, quote=False)) for t in titles]


class TrendingSite(unittest.TestCase):
    def test_trending_as_a_person_sees_it(self):
        need_tool("tidy")
        need_tool("chromium")
        shots = os.path.dirname(os.path.abspath(BIN))
        with TempDir() as t:
            www = os.path.join(t, "www")
            os.makedirs(www)
            files = {"cl.rss": arxiv_rss("cs.CL", [arxiv_item(P1, "cs.CL", 2 * HOUR),
                                                   arxiv_item(P3, "cs.CL", 2 * HOUR),
                                                   arxiv_item(P2, "cs.CL", 2 * HOUR),
                                                   arxiv_item(OLD, "cs.CL", 10 * DAY)]),
                     "lg.rss": arxiv_rss("cs.LG", [arxiv_item(P1, "cs.LG", 2 * HOUR, True),
                                                   arxiv_item(P2, "cs.LG", 2 * HOUR, True)]),
                     "hf.rss": hf_rss(), "hn.rss": hn_rss(), "letter.atom": newsletter(),
                     "blog.rss": blog(), "agg.rss": aggregator()}
            for name, text in files.items():
                with open(os.path.join(www, name), "w", encoding="utf-8") as f:
                    f.write(text)
            up = Upstream(www, os.path.join(t, "up.log"))
            # The API stand-in answers, like arXiv, for the ids it is asked
            # and knows: P5 and P6.
            for pid in (P5, P6):
                e2e_arxiv.BY_ID[pid] = (TITLE[pid], ABSTRACT[pid])
            api = e2e_arxiv.StandIn({})
            port = free_port()
            root = f"http://127.0.0.1:{port}/"
            conf = os.path.join(t, "t.ini")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config(up.base, api.base + "api", port))
            d = Daemon(conf, os.path.join(t, "serve.log"))
            got = {}

            def ready():
                st, _, body = http_get(root + "trending.atom")
                got["atom"] = body
                if st != 200:
                    return False
                page = http_get(root + "trending.html")[2].decode("utf-8", "replace")
                return (len(entries(body)) == len(ORDER)
                        and TITLE[P5].encode() in body and POSTER_TITLE.encode() not in body
                        and -1 not in positions(page, TITLES))
            try:
                try:
                    wait_for(ready, 120, what="trending.atom and .html with every paper")
                except AssertionError:
                    print(got.get("atom", b"").decode("utf-8", "replace")[-4000:],
                          d.log_text()[-3000:], file=sys.stderr)
                    raise
                self.check_order(got["atom"], api)
                self.check_pages(t, root)
                self.check_browser(t, root, shots)
                self.assertTrue(d.alive())
            finally:
                rc = d.stop()
                up.stop()
                api.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])

    def check_order(self, doc, api):
        es = entries(doc)
        # Corroboration first (P1: 4 groups); the blog's three posts count
        # once (else P3 would lead); P5, carried only by a "[pdf]" item and
        # linked by the newsletter, outranks P6, linked by the newsletter
        # alone; P2's two arXiv listings are one group and the aggregator's
        # weight is 0 (else P2 would outrank P6); OLD, voiced ten days ago,
        # is outside the 2-day window.
        self.assertEqual([paper(e) for e in es], ORDER)
        trend = [e.find(TB + "trending") for e in es]
        self.assertEqual([int(x.get("groups")) for x in trend], GROUPS)
        scores = [float(x.get("score")) for x in trend]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertNotIn(OLD, doc.decode())
        self.assertNotIn(TITLE[OLD], doc.decode())
        # The papers only linked to were asked of the API, OLD (outside the
        # window) never; a paper mentioned before arXiv's listing of it was
        # stored may be asked too (its answer is empty: nothing changes).
        asked = {pid for r in api.api() for pid in r[1]}
        self.assertTrue({P5, P6} <= asked <= {P1, P2, P3, P5, P6}, api.api())
        text = doc.decode()
        self.assertNotIn(POSTER_TITLE, text)
        for e, pid in zip(es, ORDER):
            self.assertEqual(e.find(ATOM + "title").text, TITLE[pid])
        for pid in (P5, P6):
            self.assertIn(html.escape(ABSTRACT[pid], quote=False), text)
        self.assertIn("<name>Ada Lovelace</name>", text)
        # Why each is there: the footer names the groups that count, once each.
        p1 = es[0].find(ATOM + "content").text
        self.assertIn("Mentioned by 4 sources: ", p1)
        self.assertIn('<a href="https://news.ycombinator.com/item?id=101">', p1)
        self.assertIn('<a href="https://letter.example/12">', p1)
        self.assertIn("Mentioned by 1 source: ", es[4].find(ATOM + "content").text)
        self.assertNotIn("aggregator", es[4].find(ATOM + "content").text)

    def check_pages(self, t, root):
        # The pages list what the feed lists, in its order: the front page,
        # trending.html and the topic's trending page and topic page.
        for rel in ("", "trending.html", "trending/walrus.html", "topics/walrus.html"):
            st, _, body = http_get(root + rel)
            self.assertEqual(st, 200, rel)
            page = body.decode("utf-8")
            pos = positions(page, TITLES)
            self.assertTrue(-1 not in pos and pos == sorted(pos), (rel, pos))
            self.assertNotIn("<script", page)
            if rel != "topics/walrus.html":  # its newest entries may show OLD
                self.assertNotIn(TITLE[OLD], page, rel)
        front = http_get(root)[2].decode("utf-8")
        self.assertIn("<h1>Walrus papers this morning</h1>", front)
        # "N sources" names the voices that count, as the score does: one
        # per group (arXiv's two listings are one), none of weight 0 (the
        # aggregator, the resolver's "arXiv"), each linking its own entry.
        self.assertIn("4 sources: ", front)
        self.assertRegex(front, r'1 source: <a href="https://arxiv.org/abs/' + re.escape(P2)
                         + r'">arXiv cs\.(CL|LG)</a></span>')
        self.assertIn('2 sources: <a href="https://news.ycombinator.com/item?id=102">Hacker News'
                      '</a>, <a href="https://letter.example/12">The Walrus Letter</a></span>',
                      front)
        self.assertNotIn("Link aggregator", front)
        # A topic's newest entries show every source that carried each,
        # each linking its own copy (P1: both listings, Hugging Face and
        # the Hacker News item whose link is the paper).
        newest = http_get(root + "topics/walrus.html")[2].decode("utf-8").split('id="newest"')[1]
        card = newest[newest.find(TITLE[P1]):]
        card = card[:card.find("</article>")]
        for name, href in [("Hugging Face daily papers", f"https://huggingface.co/papers/{P1}"),
                           ("Hacker News", "https://news.ycombinator.com/item?id=101"),
                           ("arXiv cs.CL", f"https://arxiv.org/abs/{P1}"),
                           ("arXiv cs.LG", f"https://arxiv.org/abs/{P1}")]:
            self.assertIn(f'<a href="{href}">{name}</a>', card)
        self.assertIn("4 sources: ", card)
        self.assertIn(f'href="https://arxiv.org/pdf/{P6}">PDF</a>', front)
        self.assertIn(html.escape(ABSTRACT[P6], quote=False), front)
        # tidy: no errors in any page of the site.
        pub = os.path.join(t, "pub")
        pages = ["index.html", "trending.html", "trending/walrus.html", "trending/vision.html"]
        pages += ["topics/" + n for n in sorted(os.listdir(os.path.join(pub, "topics")))
                  if n.endswith(".html")]
        self.assertIn("topics/walrus.html", pages)
        self.assertIn("topics/vision.html", pages)
        for rel in pages:
            rc, errs = tidy_errors(os.path.join(pub, rel))
            self.assertEqual(errs, [], rel)
            self.assertLess(rc, 2, rel)

    def check_browser(self, t, root, shots):
        for name, url in [("index", root), ("trending", root + "trending.html"),
                          ("topic", root + "topics/walrus.html")]:
            for width in (390, 1280):
                profile = os.path.join(t, f"chrome-{name}-{width}")
                p = chromium(url, profile, "--dump-dom", f"--window-size={width},1400")
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                pos = positions(p.stdout, TITLES)
                self.assertTrue(-1 not in pos and pos == sorted(pos), (name, width, pos))
                if name != "topic":
                    self.assertNotIn(TITLE[OLD], p.stdout)
                shot = os.path.join(shots, f"trending-site-{name}-{width}.png")
                p = chromium(url, profile, f"--screenshot={shot}",
                             f"--window-size={width},2400", "--hide-scrollbars")
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                self.assertGreater(os.path.getsize(shot), 1000)
        print(f"screenshots: {shots}/trending-site-*.png", file=sys.stderr)


if __name__ == "__main__":
    tbtest.main()
