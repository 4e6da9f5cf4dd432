#!/usr/bin/python3
"""End-to-end tests of what tributary publishes, as a reader sees it (issue 9
item 7, output side): the feeds `fetch` writes into public_dir in all three
formats, and `merge`'s Atom, from upstreams served by tests/upstream.py."""
import datetime
import email.utils
import json
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from e2e_daemon import Upstream  # noqa: E402

ATOM = "{http://www.w3.org/2005/Atom}"

# A JSON Feed that declares no feed_url (no self link), whose item URL has an
# upper-case host, the default port and a tracking parameter.
JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Papers as JSON",
    "home_page_url": "https://papers.example.org/",
    "items": [{
        "id": "https://ARXIV.org:443/abs/2403.10185",
        "url": "https://ARXIV.org:443/abs/2403.10185?utm_source=feed",
        "title": "Sparse retrieval for long documents",
        "content_text": "Sparse retrieval.",
        "date_published": "2024-03-15T00:00:00Z",
    }],
}


def atom_doc(feed_id, entries, self_link=None):
    """An Atom feed; entries are (id, title, updated)."""
    link = f"<link rel='self' href='{self_link}'/>" if self_link else ""
    items = "".join(
        f"<entry><id>{i}</id><title>{t}</title><updated>{u}</updated>"
        f"<link href='https://example.org/{n}'/><summary>{t}</summary></entry>"
        for n, (i, t, u) in enumerate(entries))
    return (f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<id>{feed_id}</id><title>{feed_id}</title><updated>2024-01-05T00:00:00Z</updated>"
            f"{link}{items}</feed>")


class Outputs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tb-out-")
        self.up = Upstream(self.tmp)
        self.up.write("j.json", json.dumps(JSON_FEED))
        self.config = os.path.join(self.tmp, "t.ini")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(f"""[tributary]
database = t.db
public_dir = pub
base_url = http://localhost:8080/

[source j]
url = {self.up.url('/j.json')}
""")

    def tearDown(self):
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fetch(self):
        """Runs `fetch`; returns the published all.atom, all.rss and all.json."""
        tbtest.run("fetch", "-c", self.config)
        pub = os.path.join(self.tmp, "pub")
        out = {}
        for ext in ("atom", "rss", "json"):
            with open(os.path.join(pub, "all." + ext), "rb") as f:
                out[ext] = f.read()
        errors = tbtest.jing_errors(out["atom"])
        self.assertEqual(errors, "", "all.atom is not valid Atom")
        return out

    def test_links_published_clean(self):
        want = "https://arxiv.org/abs/2403.10185"
        out = self.fetch()
        atom = ET.fromstring(out["atom"])
        links = [l.get("href") for l in atom.iter(ATOM + "link") if l.get("rel") == "alternate"
                 and l.get("href").rstrip("/").endswith("10185")]
        self.assertEqual(links, [want])
        rss = ET.fromstring(out["rss"])
        self.assertEqual([i.findtext("link") for i in rss.iter("item")], [want])
        self.assertEqual([i["url"] for i in json.loads(out["json"])["items"]], [want])
        path = os.path.join(self.tmp, "j.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(JSON_FEED, f)
        merged = ET.fromstring(tbtest.run("merge", path).stdout)
        self.assertEqual([l.get("href") for e in merged.iter(ATOM + "entry")
                          for l in e.findall(ATOM + "link")], [want])

    def source_of(self, atom_bytes):
        """(id, rel=self href) of each entry's atom:source."""
        doc = ET.fromstring(atom_bytes)
        out = []
        for e in doc.iter(ATOM + "entry"):
            src = e.find(ATOM + "source")
            selfs = [l.get("href") for l in src.findall(ATOM + "link") if l.get("rel") == "self"]
            out.append((src.findtext(ATOM + "id"), selfs))
        return out

    def test_source_names_the_fetched_url(self):
        # The JSON Feed declares no feed_url: its source's URL stands in.
        url = self.up.url("/j.json")
        out = self.fetch()
        self.assertEqual(self.source_of(out["atom"]), [(url, [url])])
        rss = ET.fromstring(out["rss"])
        self.assertEqual([(s.get("url"), s.text) for s in rss.iter("source")],
                         [(url, "Papers as JSON")])
        # merge of the URL, in memory and through a database.
        for extra in ([], ["--db", os.path.join(self.tmp, "m.db")]):
            merged = tbtest.run("merge", *extra, url).stdout
            self.assertEqual(tbtest.jing_errors(merged), "")
            self.assertEqual(self.source_of(merged), [(url, [url])], extra)
        # A feed's own self link still wins.
        one = [("urn:x:s1", "One", "2024-01-01T00:00:00Z")]
        self.up.write("s.atom", atom_doc("urn:feed:s", one,
                                         self_link="https://feeds.example.org/s.atom"))
        merged = tbtest.run("merge", self.up.url("/s.atom")).stdout
        self.assertEqual(self.source_of(merged),
                         [("urn:feed:s", ["https://feeds.example.org/s.atom"])])

    def test_ids_are_uris(self):
        # Upstream ids that are not URIs get the stable tag: id; valid ones stay.
        good = "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
        entries = [("urn:uuid:not-a-uuid", "Bad uuid", "2024-01-01T00:00:00Z"),
                   ("urn:uuid:1225c695 cfb8-4ebb-aaaa-80da344efa6a", "Spaced",
                    "2024-01-02T00:00:00Z"),
                   (good, "Good uuid", "2024-01-03T00:00:00Z")]
        self.up.write("u.atom", atom_doc("urn:feed:u", entries))
        with open(self.config, "a", encoding="utf-8") as f:
            f.write(f"\n[source u]\nurl = {self.up.url('/u.atom')}\n")
        # A local RSS file that names neither id nor self link, at a path
        # that needs percent-encoding.
        d = os.path.join(self.tmp, "my feeds é")
        os.mkdir(d)
        path = os.path.join(d, "x#1.rss")
        with open(path, "w", encoding="utf-8") as f:
            f.write("<rss version='2.0'><channel><title>Local</title><item><title>Local item"
                    "</title><guid isPermaLink='false'>urn:uuid:not-a-uuid</guid>"
                    "<link>https://example.org/local</link></item></channel></rss>")
        uri = "file://" + urllib.parse.quote(os.path.realpath(path), safe="/")

        def check_ids(doc):
            ids = {e.findtext(ATOM + "title"): e.findtext(ATOM + "id")
                   for e in ET.fromstring(doc).iter(ATOM + "entry")}
            self.assertLessEqual({"Good uuid", "Bad uuid", "Spaced"}, set(ids))
            self.assertEqual(ids["Good uuid"], good)
            for title in ("Bad uuid", "Spaced", "Local item"):
                if title in ids:
                    self.assertRegex(ids[title], r"^tag:tributary\.invalid,2024:[0-9a-f]{64}$")

        out = self.fetch()
        check_ids(out["atom"])
        ids = [i.findtext("guid") for i in ET.fromstring(out["rss"]).iter("item")]
        self.assertIn(good, ids)
        self.assertNotIn("urn:uuid:not-a-uuid", ids)
        for extra in ([], ["--db", os.path.join(self.tmp, "m.db")]):
            merged = tbtest.run("merge", *extra, path, self.up.url("/u.atom")).stdout
            self.assertEqual(tbtest.jing_errors(merged), "")
            check_ids(merged)
            self.assertIn((uri, []), self.source_of(merged), extra)
        merged = tbtest.run("merge", "-", stdin=open(path, "rb").read()).stdout
        self.assertEqual(self.source_of(merged), [("tag:tributary.invalid,2024:stdin", [])])
        # A feed id that is no URI is not atom:source's id: the URL read stands in.
        self.up.write("v.atom", atom_doc("urn:uuid:not-a-uuid",
                                         [("urn:x:v1", "V", "2024-01-01T00:00:00Z")]))
        url = self.up.url("/v.atom")
        for extra in ([], ["--db", os.path.join(self.tmp, "v.db")]):
            merged = tbtest.run("merge", *extra, url).stdout
            self.assertEqual(self.source_of(merged), [(url, [url])], extra)

    def test_future_dates_clamped(self):
        entries = [("urn:x:f1", "From the future", "2200-01-01T00:00:00Z"),
                   ("urn:x:f2", "From the past", "2024-01-02T00:00:00Z")]
        self.up.write("f.atom", atom_doc("urn:feed:f", entries))
        with open(self.config, "a", encoding="utf-8") as f:
            f.write(f"\n[source f]\nurl = {self.up.url('/f.atom')}\n")
        before = time.time()
        out = self.fetch()
        after = time.time()

        def stamp(text):
            return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

        def entry_dates(doc):
            root = ET.fromstring(doc)
            return stamp(root.findtext(ATOM + "updated")), {
                e.findtext(ATOM + "title"): stamp(e.findtext(ATOM + "updated"))
                for e in root.iter(ATOM + "entry")}

        feed_updated, dates = entry_dates(out["atom"])
        self.assertLessEqual(feed_updated, after)
        first_seen = dates["From the future"]
        self.assertTrue(before - 1 <= first_seen <= after, (before, first_seen, after))
        self.assertEqual(dates["From the past"], stamp("2024-01-02T00:00:00Z"))
        # Newest first: the clamped entry sorts by when it was seen.
        self.assertEqual(list(dates)[0], "From the future")
        rss = ET.fromstring(out["rss"])
        last_build = email.utils.parsedate_to_datetime(rss.findtext("channel/lastBuildDate"))
        self.assertLessEqual(last_build.timestamp(), after)
        for item in rss.iter("item"):
            pub = email.utils.parsedate_to_datetime(item.findtext("pubDate")).timestamp()
            self.assertLessEqual(pub, after)
        for item in json.loads(out["json"])["items"]:
            for key in ("date_published", "date_modified"):
                if key in item:
                    self.assertLessEqual(stamp(item[key]), after, item)
        # Polled again later, unchanged: the entry keeps the date it got.
        time.sleep(1.1)
        self.up.write("f.atom", atom_doc("urn:feed:f", entries) + " ")
        self.assertEqual(entry_dates(self.fetch()["atom"])[1]["From the future"], first_seen)
        # merge: the feed's updated is not in the future, and two runs over a
        # file are byte-identical apart from it.
        path = os.path.join(self.tmp, "f.atom")
        with open(path, "w", encoding="utf-8") as f:
            f.write(atom_doc("urn:feed:f", entries))
        one = tbtest.run("merge", path).stdout
        self.assertLessEqual(entry_dates(one)[0], time.time())
        self.assertLessEqual(max(entry_dates(one)[1].values()), time.time())
        time.sleep(1.1)
        two = tbtest.run("merge", path).stdout
        self.assertEqual(tbtest.mask_feed_updated(one), tbtest.mask_feed_updated(two))


if __name__ == "__main__":
    unittest.main()
