#!/usr/bin/python3
"""Which RFC 5005 archive page files `tributary fetch` writes (no daemon).

By default a fetch writes only the newest complete page of each feed (the
one the current documents link to), in its four forms and without .gz
twins; the older pages are made by the daemon on their first request
(nginx passes a missing file to it): after a daemon start on the same
public_dir, following prev-archive gives every entry exactly once and the
page fetch wrote is served byte for byte.

With static_archive = yes a fetch writes every page's files, so a static
server alone serves the whole chain: followed through the files, as a
static server would, prev-archive gives every entry exactly once in each
format. A later fetch also fills holes below the newest page (files
removed, pages that were left to the daemon before the switch) and removes
a stale .gz twin of a page it writes; the daemon with static_archive =
yes writes every page's files as well."""
import gzip
import json
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import Daemon, TempDir, Upstream, free_port, http_get, run, wait_for  # noqa: E402
from e2e_archive import atom_ids, links, rss, rss_ids  # noqa: E402

FORMS = (".atom", ".rss", ".json", ".html")


def config(base, port, static):
    return f"""[tributary]
database = t.db
public_dir = pub
listen = 127.0.0.1:{port}
base_url = http://127.0.0.1:{port}/
feed_limit = 4
{"static_archive = yes" if static else ""}

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


def listing(pub, d):
    """The names in public_dir/d, or [] when it does not exist."""
    p = os.path.join(pub, d)
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def page_files(pages):
    return sorted(f"{n}{ext}" for n in pages for ext in FORMS)


class ArchiveFiles(unittest.TestCase):
    def setup(self, t, n, static):
        www = os.path.join(t, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "blog.rss"), "w", encoding="utf-8") as f:
            f.write(rss(n))
        if not hasattr(self, "up"):
            self.up = Upstream(www, os.path.join(t, "up.log"))
            self.addCleanup(self.up.stop)
        if not hasattr(self, "port"):
            self.port = free_port()
            self.root = f"http://127.0.0.1:{self.port}/"
        conf = os.path.join(t, "t.ini")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(config(self.up.base, self.port, static))
        return conf

    def file_chain(self, pub, current, fmt):
        """Follows prev-archive from the current document through the files
        alone: the entry ids in order and the number of pages."""
        ids, n, path = [], 0, current
        while path:
            with open(os.path.join(pub, path), "rb") as f:
                body = f.read()
            if fmt == "json":
                doc = json.loads(body)
                ids += [i["id"] for i in doc["items"]]
                url = doc.get("_archive", {}).get("prev_archive")
            else:
                root = ET.fromstring(body)
                ids += atom_ids(root) if fmt == "atom" else rss_ids(root)
                url = links(root).get("prev-archive")
            self.assertTrue(url is None or url.startswith(self.root), url)
            path = url[len(self.root):] if url else None
            n += 1 if url else 0
        return ids, n

    def test_fetch_writes_newest_page(self):
        with TempDir() as t:
            conf = self.setup(t, 23, static=False)
            run("fetch", "-c", conf)
            pub = os.path.join(t, "pub")
            # walrus: 23 entries, pages of 5: 3 pages; single: 22; all (4): 4.
            self.assertEqual(listing(pub, "topics/walrus/archive"), page_files([3]))
            self.assertEqual(listing(pub, "topics/single/archive"), page_files([22]))
            self.assertEqual(listing(pub, "archive"), page_files([4]))
            with open(os.path.join(pub, "topics/walrus.atom"), "rb") as f:
                cur = ET.fromstring(f.read())
            self.assertEqual(links(cur)["prev-archive"],
                             self.root + "topics/walrus/archive/3.atom")
            self.assertTrue(os.path.exists(os.path.join(pub, "topics/walrus.atom.gz")))
            with open(os.path.join(pub, "topics/walrus/archive/3.atom"), "rb") as f:
                page3 = f.read()
            # The daemon serves the rest on request: every entry once, and
            # the page fetch wrote as it is.
            d = Daemon(conf, os.path.join(t, "serve.log"))
            try:
                wait_for(lambda: http_get(self.root + "healthz")[0] == 200, 60, what="daemon")
                url, ids = self.root + "topics/walrus.atom", []
                while url:
                    st, h, body = http_get(url)
                    self.assertEqual(st, 200, url)
                    if "/archive/" in url:
                        self.assertIn("immutable", h["cache-control"], url)
                    if url.endswith("/archive/3.atom"):
                        self.assertEqual(body, page3)
                    r = ET.fromstring(body)
                    ids += atom_ids(r)
                    url = links(r).get("prev-archive")
                self.assertEqual(sorted(ids), sorted(f"http://example.org/walrus/{i}"
                                                     for i in range(1, 24)))
                self.assertEqual(len(ids), 23)
                # The page's file has no .gz: the daemon compresses it.
                st, h, gz = http_get(self.root + "topics/walrus/archive/3.atom",
                                     headers={"Accept-Encoding": "gzip"})
                self.assertEqual((st, h.get("content-encoding")), (200, "gzip"))
                self.assertEqual(gzip.decompress(gz), page3)
            finally:
                self.assertEqual(d.stop(), 0)
            # The pages the daemon was asked for are files now (no .gz).
            self.assertEqual(listing(pub, "topics/walrus/archive"),
                             sorted(page_files([3]) + ["1.atom", "2.atom"]))

    def test_static_archive(self):
        with TempDir() as t:
            conf = self.setup(t, 23, static=False)
            run("fetch", "-c", conf)  # the newest pages only ...
            pub = os.path.join(t, "pub")
            # ... a stale twin beside a page the next fetch writes ...
            with open(os.path.join(pub, "topics/walrus/archive/1.atom.gz"), "wb") as f:
                f.write(b"stale")
            # ... then static_archive = yes and more entries: every page.
            conf = self.setup(t, 30, static=True)
            run("fetch", "-c", conf)
            # walrus: 30 -> 5 pages; single: 29; all: 30 -> 6 pages of 4.
            self.assertEqual(listing(pub, "topics/walrus/archive"), page_files(range(1, 6)))
            self.assertEqual(listing(pub, "topics/single/archive"), page_files(range(1, 30)))
            self.assertEqual(listing(pub, "archive"), page_files(range(1, 7)))
            want = sorted(f"http://example.org/walrus/{i}" for i in range(1, 31))
            for current, fmt, pages in (("topics/walrus.atom", "atom", 5),
                                        ("topics/walrus.rss", "rss", 5),
                                        ("topics/walrus.json", "json", 5),
                                        ("topics/single.atom", "atom", 29),
                                        ("all.atom", "atom", 6)):
                ids, n = self.file_chain(pub, current, fmt)
                self.assertEqual(sorted(ids), want, current)
                self.assertEqual(n, pages, current)
            # Holes below the newest page are filled by the next fetch.
            for name in ("2.atom", "2.html", "4.json"):
                os.remove(os.path.join(pub, "topics/walrus/archive", name))
            conf = self.setup(t, 31, static=True)
            run("fetch", "-c", conf)
            self.assertEqual(listing(pub, "topics/walrus/archive"), page_files(range(1, 6)))
            ids, n = self.file_chain(pub, "topics/walrus.atom", "atom")
            self.assertEqual(len(ids), 31)
            self.assertEqual(len(set(ids)), 31)

    def test_daemon_static_archive(self):
        """The daemon with static_archive = yes writes every page's files too
        (without it, none until asked: e2e_archive)."""
        with TempDir() as t:
            conf = self.setup(t, 23, static=True)
            pub = os.path.join(t, "pub")
            d = Daemon(conf, os.path.join(t, "serve.log"))
            try:
                wait_for(lambda: listing(pub, "topics/single/archive") == page_files(range(1, 23)),
                         60, what="every page of topics/single as files")
                self.assertEqual(listing(pub, "topics/walrus/archive"), page_files(range(1, 4)))
                self.assertEqual(listing(pub, "archive"), page_files(range(1, 5)))
                with open(os.path.join(pub, "topics/walrus/archive/1.atom"), "rb") as f:
                    body = f.read()
                st, h, served = http_get(self.root + "topics/walrus/archive/1.atom")
                self.assertEqual((st, served), (200, body))
                self.assertIn("immutable", h["cache-control"])
            finally:
                self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    tbtest.main()
