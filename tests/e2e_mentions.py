#!/usr/bin/python3
"""`tributary serve` records what trending needs: each source's group and
weight from the config (also after a reload), one entry for a paper that
arXiv lists and Hugging Face's daily papers carry, and the mentions of a
newsletter linking several papers. Upstreams on loopback only."""
import os
import signal
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import Daemon, TempDir, Upstream, free_port, wait_for  # noqa: E402

ARXIV_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{cat} updates on arXiv.org</title>
<link>http://rss.arxiv.org/rss/{cat}</link><description>{cat}</description>
<item><title>A cross-listed paper</title><link>https://arxiv.org/abs/2403.05577</link>
<description>arXiv:2403.05577v1 Announce Type: new Abstract: Walruses.</description>
<guid isPermaLink="false">oai:arXiv.org:2403.05577v1</guid>
<pubDate>Mon, 11 Mar 2024 00:00:00 -0400</pubDate></item>
</channel></rss>"""

HF_ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:hf</id><title>Daily papers</title>
<updated>2024-03-11T12:00:00Z</updated>
<entry><id>urn:hf:1</id><title>A cross-listed paper</title>
<link href="https://huggingface.co/papers/2403.05577"/>
<updated>2024-03-11T12:00:00Z</updated><summary>Upvoted.</summary></entry>
</feed>"""

NEWS_ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:news</id><title>The Letter</title>
<updated>2024-03-12T00:00:00Z</updated>
<entry><id>urn:news:1</id><title>Issue 1</title><link href="https://news.example/1"/>
<updated>2024-03-12T00:00:00Z</updated>
<content type="html">&lt;p&gt;&lt;a href="https://arxiv.org/pdf/2403.05577v2"&gt;one&lt;/a&gt;,
&lt;a href="http://export.arxiv.org/abs/2402.00001"&gt;two&lt;/a&gt;,
&lt;a href="https://doi.org/10.1000/XYZ"&gt;three&lt;/a&gt;&lt;/p&gt;</content></entry>
</feed>"""


def config(up, port, hf_weight):
    return f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/

[source arxiv-cs-cl]
url = {up.base}cl.rss
group = arxiv

[source arxiv-cs-lg]
url = {up.base}lg.rss
group = arxiv
weight = 0.5

[source hf]
url = {up.base}hf.atom
weight = {hf_weight}

[source news]
url = {up.base}news.atom

[trending]
arxiv_api = http://127.0.0.1:9/arxiv-api
"""


def query(db, sql):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def rows_when_ready(db, sql):
    """query(), or [] while the daemon is still making the schema (the file
    exists before its tables do)."""
    try:
        return query(db, sql)
    except sqlite3.OperationalError:
        return []


class Mentions(unittest.TestCase):
    def test_serve_records_voices_and_mentions(self):
        with TempDir() as t:
            www = os.path.join(t, "www")
            os.makedirs(www)
            files = {"cl.rss": ARXIV_RSS.format(cat="cs.CL"),
                     "lg.rss": ARXIV_RSS.format(cat="cs.LG"),
                     "hf.atom": HF_ATOM, "news.atom": NEWS_ATOM}
            for name, text in files.items():
                with open(os.path.join(www, name), "w", encoding="utf-8") as f:
                    f.write(text)
            up = Upstream(www, os.path.join(t, "up.log"))
            port = free_port()
            conf = os.path.join(t, "t.ini")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config(up, port, 2))
            db = os.path.join(t, "t.db")
            d = Daemon(conf, os.path.join(t, "serve.log"))
            try:
                wait_for(lambda: os.path.exists(db) and len(rows_when_ready(
                    db, "SELECT DISTINCT source_id FROM mentions")) == 4, 60,
                    what="every source's mentions stored")
                voices = dict((n, (g, w)) for n, g, w in query(
                    db, "SELECT name, grp, weight FROM sources"))
                self.assertEqual(voices, {"arxiv-cs-cl": ("arxiv", 1.0),
                                          "arxiv-cs-lg": ("arxiv", 0.5),
                                          "hf": ("hf", 2.0), "news": ("news", 1.0)})
                # arXiv's two listings and Hugging Face's page: one entry.
                self.assertEqual(query(
                    db, "SELECT count(*) FROM entries WHERE arxiv_id = '2403.05577'"), [(1,)])
                self.assertEqual(query(db, "SELECT count(*) FROM entries"), [(2,)])
                rows = query(db, "SELECT s.name, m.carries FROM mentions m JOIN sources s"
                                 " ON s.id = m.source_id WHERE m.paper = 'arxiv:2403.05577'"
                                 " ORDER BY s.name")
                self.assertEqual(rows, [("arxiv-cs-cl", 1), ("arxiv-cs-lg", 1), ("hf", 1),
                                        ("news", 0)])
                news = sorted(p for (p,) in query(
                    db, "SELECT paper FROM mentions m JOIN sources s ON s.id = m.source_id"
                        " WHERE s.name = 'news' AND m.carries = 0"))
                self.assertEqual(news, ["arxiv:2402.00001", "arxiv:2403.05577",
                                        "doi:10.1000/xyz"])
                # A reload gives the store the new weight.
                with open(conf, "w", encoding="utf-8") as f:
                    f.write(config(up, port, 0))
                d.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: query(db, "SELECT weight FROM sources WHERE name = 'hf'")
                         == [(0.0,)], 30, what="the reloaded weight stored")
                self.assertTrue(d.alive())
            finally:
                rc = d.stop()
                up.stop()
            self.assertEqual(rc, 0, d.log_text()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
