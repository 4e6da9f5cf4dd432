#!/usr/bin/python3
"""`tributary serve` publishes trending feeds: /trending.atom, .rss and .json
and /trending/TOPIC.*, ranked by how many groups carried or mentioned each
paper. Upstreams on loopback: two arXiv listings (one group), a Hugging
Face daily-papers feed, a newsletter linking papers and a blog of weight 0.
Checks the order (corroboration first, a group counted once, weight 0
counting nothing, a paper no source carries left out), the "Mentioned by"
and "Also in" footers, tb:trending, topic categories, RFC 4287 validity
(jing) and that readers parse the three formats."""
import email.utils
import json
import os
import re
import signal
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import (Daemon, TempDir, Upstream, feedparse, free_port,  # noqa: E402
                    http_get, jing_errors, main, wait_for)

ATOM = "{http://www.w3.org/2005/Atom}"
TB = "{https://tributary.dev/ns/1.0}"
A, B, C, D = "2501.00001", "2501.00002", "2501.00003", "2501.09999"


def rfc822(t):
    return email.utils.formatdate(t, usegmt=True)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def arxiv_item(pid, title, t):
    return f"""<item><title>{title}</title><link>https://arxiv.org/abs/{pid}</link>
<description>arXiv:{pid}v1 Announce Type: new Abstract: {title} about walruses.</description>
<guid isPermaLink="false">oai:arXiv.org:{pid}v1</guid><pubDate>{rfc822(t)}</pubDate></item>"""


def arxiv_rss(cat, items):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{cat} updates on arXiv.org</title>
<link>http://rss.arxiv.org/rss/{cat}</link><description>{cat}</description>
{"".join(items)}</channel></rss>"""


def files(now):
    t = now - 3600
    a = arxiv_item(A, "Corroborated walrus paper", t)
    b = arxiv_item(B, "Cross-listed walrus paper", t)
    c = arxiv_item(C, "Newsletter walrus paper", t)
    hf = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:hf</id><title>Hugging Face daily papers</title>
<link href="https://huggingface.co/papers"/><updated>{iso(t)}</updated>
<entry><id>https://huggingface.co/papers/{A}</id><title>Corroborated walrus paper</title>
<link href="https://huggingface.co/papers/{A}"/>
<updated>{iso(t)}</updated><summary type="html">Upvoted: walruses.
&lt;a href="https://arxiv.org/abs/{D}"&gt;Related&lt;/a&gt;</summary></entry></feed>"""
    news = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:news</id><title>The Batch</title>
<link href="https://news.example/"/><updated>{iso(t)}</updated>
<entry><id>urn:news:1</id><title>Issue 1</title><link href="https://news.example/1"/>
<updated>{iso(t)}</updated><published>{iso(t)}</published>
<content type="html">&lt;p&gt;&lt;a href="https://arxiv.org/pdf/{A}v2"&gt;one&lt;/a&gt;,
&lt;a href="http://export.arxiv.org/abs/{C}"&gt;two&lt;/a&gt;,
&lt;a href="https://arxiv.org/abs/{D}"&gt;unknown&lt;/a&gt;&lt;/p&gt;</content></entry>
</feed>"""
    posts = "".join(f"""<item><title>Post {i}</title><link>https://blog.example/{i}</link>
<description>&lt;a href="https://arxiv.org/abs/{B}"&gt;again&lt;/a&gt;</description>
<pubDate>{rfc822(t)}</pubDate></item>""" for i in range(3))
    blog = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>A blog</title>
<link>https://blog.example/</link><description>b</description>{posts}</channel></rss>"""
    return {"cl.rss": arxiv_rss("cs.CL", [a, b, c]), "lg.rss": arxiv_rss("cs.LG", [a, b]),
            "hf.atom": hf, "news.atom": news, "blog.rss": blog}


def config(up, port):
    return f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/

[trending]
# Nothing here touches the internet: D stays unresolved.
resolve_arxiv = no

[source arxiv-cs-cl]
url = {up.base}cl.rss
group = arxiv

[source arxiv-cs-lg]
url = {up.base}lg.rss
group = arxiv

[source hf]
url = {up.base}hf.atom
weight = 2

[source news]
url = {up.base}news.atom

[source blog]
url = {up.base}blog.rss
weight = 0

[topic walrus]
title = Walrus papers
query = walruses
"""


def entries(doc):
    return ET.fromstring(doc).findall(ATOM + "entry")


def link(e):
    return e.find(ATOM + "link[@rel='alternate']").get("href")


def paper(url):
    """The arXiv id in an entry's link (whichever source's copy came first),
    else the link."""
    m = re.search(r"/(\d{4}\.\d{5})", url)
    return m.group(1) if m else url


class Trending(unittest.TestCase):
    def test_serve_publishes_trending_feeds(self):
        with TempDir() as t:
            www = os.path.join(t, "www")
            os.makedirs(www)
            for name, text in files(int(time.time())).items():
                with open(os.path.join(www, name), "w", encoding="utf-8") as f:
                    f.write(text)
            up = Upstream(www, os.path.join(t, "up.log"))
            port = free_port()
            base = f"http://127.0.0.1:{port}/"
            conf = os.path.join(t, "t.ini")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config(up, port))
            d = Daemon(conf, os.path.join(t, "serve.log"))
            got = {}

            def ready():
                status, _, body = http_get(base + "trending.atom")
                got["atom"] = body
                if status != 200 or len(entries(body)) != 3:
                    return False
                content = entries(body)[0].find(ATOM + "content").text
                return ("Mentioned by 3" in content
                        and re.search(r"Also in: <a[^<]*</a>, <a", content) is not None)

            try:
                try:
                    wait_for(ready, 90, what="trending.atom with every source's papers")
                except AssertionError:
                    print(got.get("atom", b"").decode("utf-8", "replace"), d.log_text()[-3000:],
                          file=sys.stderr)
                    raise
                self.check_atom(got["atom"], base)
                for ext in ("rss", "json"):
                    status, h, got[ext] = http_get(base + "trending." + ext)
                    self.assertEqual(status, 200)
                self.check_rss(got["rss"])
                self.check_json(got["json"])
                status, _, topic = http_get(base + "trending/walrus.atom")
                self.assertEqual(status, 200)
                self.check_topic(topic, base)
                # The files are in public_dir too, with their .gz.
                pub = os.path.join(t, "pub")
                for rel in ("trending.atom", "trending.json.gz", "trending/walrus.rss",
                            "trending/walrus.html"):
                    self.assertTrue(os.path.exists(os.path.join(pub, rel)), rel)
                # A topic taken out of the config takes its trending feeds
                # along. With limit = 3 the list still ends with B: D, ranked
                # second (Hugging Face and the newsletter mention it) but
                # without an entry, takes no place.
                with open(conf, "w", encoding="utf-8") as f:
                    f.write(config(up, port).split("[topic walrus]")[0]
                            + "[trending]\nlimit = 3\n")
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: http_get(base + "trending/walrus.atom")[0] == 404, 30,
                         what="trending/walrus.atom gone after the reload")
                self.assertFalse(os.path.exists(os.path.join(pub, "trending", "walrus.json")))
                self.assertEqual(http_get(base + "trending/walrus.html")[0], 404)
                self.assertFalse(os.path.exists(os.path.join(pub, "trending", "walrus.html")))
                status, _, body = http_get(base + "trending.atom")
                self.assertEqual(status, 200)
                self.assertEqual([paper(link(e)) for e in entries(body)], [A, C, B])
                # trending.html lists what trending.atom lists, in its order:
                # D, without an entry, takes no place there either.
                hrefs = [f'<a href="{link(e)}">' for e in entries(body)]

                def page_follows():
                    page = http_get(base + "trending.html")[2].decode("utf-8", "replace")
                    pos = [page.find(h) for h in hrefs]
                    return (page.count('class="rank"') == 3 and -1 not in pos
                            and pos == sorted(pos))
                wait_for(page_follows, 30, what="trending.html in trending.atom's order")
                # Rewritten by the reload: the topic's category is gone.
                self.assertNotIn(b'term="walrus"', body)
                self.assertTrue(d.alive())
            finally:
                rc = d.stop()
                up.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])

    def check_atom(self, doc, base):
        es = entries(doc)
        links = [paper(link(e)) for e in es]
        # A: arXiv, Hugging Face and the newsletter; C: arXiv and the
        # newsletter; B: arXiv's two listings count once and the blog's
        # weight 0 nothing. D has no entry; the newsletter's issue carries
        # only itself, one voice, so it is no paper; the blog's posts weigh 0.
        self.assertEqual(links, [A, C, B])
        trend = [e.find(TB + "trending") for e in es]
        self.assertEqual([int(x.get("groups")) for x in trend], [3, 2, 1])
        scores = [float(x.get("score")) for x in trend]
        self.assertEqual(scores, sorted(scores, reverse=True))
        # Hugging Face weighs 2: A's score is about 1 + 2 + 1 an hour old.
        self.assertGreater(scores[0], 3.5)
        self.assertLess(scores[0], 4.01)
        self.assertLess(scores[2], 1.01)
        content = es[0].find(ATOM + "content").text
        self.assertIn("Mentioned by 3 sources: ", content)
        self.assertIn('<a href="https://news.example/1">The Batch</a>', content)
        self.assertIn(f'<a href="https://huggingface.co/papers/{A}">Hugging Face daily papers</a>',
                      content)
        self.assertRegex(content, r'<a href="[^"]*">arxiv</a>')
        # Every other source's copy: of the three (two listings, Hugging
        # Face), all but the one that came first and is shown.
        also = re.search(r"<p>Also in: (.*?)</p>", content)
        self.assertIsNotNone(also, content)
        names = re.findall(r"<a href=\"[^\"]*\">([^<]*)</a>", also.group(1))
        origin = es[0].find(ATOM + "source/" + ATOM + "title").text
        self.assertEqual(sorted(names + [origin]),
                         ["Hugging Face daily papers", "cs.CL updates on arXiv.org",
                          "cs.LG updates on arXiv.org"])
        self.assertNotIn("Also in", es[1].find(ATOM + "content").text)
        self.assertNotIn(D, " ".join(link(e) for e in es))
        # B's footer names arXiv only: the blog's weight is 0.
        self.assertIn("Mentioned by 1 source: ", es[2].find(ATOM + "content").text)
        self.assertNotIn("A blog", es[2].find(ATOM + "content").text)
        self.assertEqual(jing_errors(doc), "")
        p = feedparse(doc)
        self.assertFalse(p.bozo, p.get("bozo_exception"))
        self.assertEqual([paper(x.link) for x in p.entries], links)

    def check_rss(self, doc):
        root = ET.fromstring(doc)
        items = root.findall("channel/item")
        self.assertEqual(paper(items[0].find("link").text), A)
        self.assertEqual(items[0].find(TB + "trending").get("groups"), "3")
        p = feedparse(doc)
        self.assertFalse(p.bozo, p.get("bozo_exception"))
        self.assertEqual(len(p.entries), 3)
        self.assertIn("Mentioned by 3 sources", p.entries[0].content[0].value)

    def check_json(self, doc):
        # feedparser 6.0 reads no JSON Feed: the json module does.
        j = json.loads(doc)
        self.assertEqual(j["version"], "https://jsonfeed.org/version/1.1")
        item = j["items"][0]
        self.assertEqual(paper(item["url"]), A)
        ext = item["_tributary"]
        self.assertEqual(ext["about"], "https://tributary.dev/ns/1.0")
        self.assertEqual(ext["trending"]["groups"], 3)
        self.assertIn("Mentioned by 3 sources", item["content_html"])
        self.assertIn("Walrus papers", item["tags"])

    def check_topic(self, doc, base):
        es = entries(doc)
        # The newsletter's issue does not say "walruses".
        self.assertEqual([paper(link(e)) for e in es], [A, C, B])
        for e in es:
            cats = [(c.get("term"), c.get("label"), c.get("scheme"))
                    for c in e.findall(ATOM + "category")]
            self.assertIn(("walrus", "Walrus papers", base + "topics/"), cats)
        self.assertEqual(jing_errors(doc), "")


if __name__ == "__main__":
    main()
