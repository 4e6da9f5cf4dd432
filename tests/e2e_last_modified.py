#!/usr/bin/python3
"""Last-Modified of a single node on SQLite: a served document's
Last-Modified changes exactly when its bytes (its ETag) change. Polls that
change nothing keep every moment; a restart that renders the same bytes
keeps them too (the files in public_dir carry their moments); new entries
give the documents they change a later moment, and If-Modified-Since
follows (304 for the new moment, 200 for the old one). Before, every
rendering stamped its own time, so a restart (or a re-render of the same
bytes) moved Last-Modified and defeated caches."""
import email.utils
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import Daemon, TempDir, Upstream, free_port, http_get, wait_for  # noqa: E402

NOW = int(time.time())
DOCS = ["all.atom", "all.rss", "all.json", "topics/walrus.atom", "topics/walrus.html",
        "topics/zebra.atom", "topics/zebra.html", "index.html", "sources.opml", "topics.opml"]


def write(root, n):
    items = "".join(f"""<item><title>Walrus note {i}</title><link>http://example.org/w{i}</link>
<guid>http://example.org/w{i}</guid><description>About walrus {i}.</description>
<pubDate>{email.utils.formatdate(NOW - 7200 + i * 60, usegmt=True)}</pubDate></item>
""" for i in range(1, n + 1))
    tmp = os.path.join(root, ".a.rss")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                "<title>Walrus blog</title><link>http://example.org/</link>"
                f"<description>w</description>{items}</channel></rss>\n")
    os.replace(tmp, os.path.join(root, "a.rss"))


def get(port, path, headers=None):
    """(status, ETag, Last-Modified, body)."""
    h = {"Accept-Encoding": "identity"}
    h.update(headers or {})
    status, headers, body = http_get(f"http://127.0.0.1:{port}/{path}", headers=h)
    if not status:
        return status, None, None, body
    return status, headers.get("ETag"), headers.get("Last-Modified"), body


def snapshot(port):
    return {p: get(port, p)[:3] for p in DOCS}


def moment(lm):
    return email.utils.parsedate_to_datetime(lm).timestamp()


class LastModifiedTest(unittest.TestCase):
    def follows(self, old, new, what):
        """Each document's Last-Modified moved exactly when its ETag did, and forward."""
        for p in DOCS:
            (s0, e0, m0), (s1, e1, m1) = old[p], new[p]
            self.assertEqual((s0, s1), (200, 200), f"{what}: {p}")
            self.assertTrue(m0 and m1, f"{what}: {p} has no Last-Modified")
            if e0 == e1:
                self.assertEqual(m0, m1, f"{what}: {p}: same bytes, another Last-Modified")
            else:
                self.assertGreater(moment(m1), moment(m0), f"{what}: {p}: new bytes, not newer")

    def test_single_node(self):
        with TempDir() as tmp:
            root = os.path.join(tmp, "www")
            os.mkdir(root)
            write(root, 2)
            up = Upstream(root, os.path.join(tmp, "up.log"))
            port = free_port()
            config = os.path.join(tmp, "t.ini")
            with open(config, "w") as f:
                f.write(f"""[tributary]
database = {tmp}/t.db
public_dir = {tmp}/public
listen = 127.0.0.1:{port}
base_url = http://localhost/
interval = 2s

[source a]
url = {up.base}a.rss

[topic walrus]
query = walrus

[topic zebra]
query = zebra
""")
            tbtest.keep_off_the_internet(config)
            log = os.path.join(tmp, "t.log")
            d = Daemon(config, log)
            try:
                wait_for(lambda: b"Walrus note 2" in get(port, "all.atom")[3], 60,
                         what="the first poll")
                time.sleep(1.5)
                first = snapshot(port)
                # Polls that change nothing (every 2 s): nothing moves.
                time.sleep(5)
                self.follows(first, snapshot(port), "polls with no change")
                self.assertEqual(snapshot(port)["all.atom"], first["all.atom"])

                # A restart renders everything again, a second later at least.
                d.stop()
                time.sleep(1.5)
                d = Daemon(config, log)
                wait_for(lambda: get(port, "all.atom")[0] == 200, 60, what="served again")
                again = snapshot(port)
                self.assertEqual(again["all.atom"], first["all.atom"], "restart")
                self.follows(first, again, "restart")

                # A new entry: the documents it changes are newer, the others not.
                time.sleep(1.5)
                write(root, 3)
                wait_for(lambda: b"Walrus note 3" in get(port, "topics/walrus.atom")[3], 60,
                         what="the new entry published")
                time.sleep(1)  # the debounced pages after the feeds
                new = snapshot(port)
                self.follows(again, new, "a new entry")
                self.assertNotEqual(new["all.atom"][1], again["all.atom"][1])
                old_lm, new_lm = again["all.atom"][2], new["all.atom"][2]
                self.assertEqual(get(port, "all.atom", {"If-Modified-Since": new_lm})[0], 304)
                self.assertEqual(get(port, "all.atom", {"If-Modified-Since": old_lm})[0], 200)
                # nginx serving public_dir would say the same: the file has the moment.
                st = os.stat(os.path.join(tmp, "public", "all.atom"))
                self.assertEqual(int(st.st_mtime), int(moment(new_lm)))
                self.assertTrue(d.alive())
            except BaseException:
                sys.stderr.write(d.log_text()[-4000:])
                raise
            finally:
                d.stop()
                up.stop()


if __name__ == "__main__":
    tbtest.main()
