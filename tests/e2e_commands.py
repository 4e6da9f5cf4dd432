#!/usr/bin/python3
"""End-to-end tests of fetch, sources, check, import-opml and export-opml."""
import json
import os
import shutil
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from e2e_daemon import FEED_A, FEED_B, Upstream, atom  # noqa: E402


class CommandsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tb-cmds-")
        self.up = Upstream(self.tmp)
        self.up.write("a.atom", atom("urn:feed:a", FEED_A))
        self.config = os.path.join(self.tmp, "t.ini")
        self.write(self.config, f"""[tributary]
database = t.db
public_dir = pub

[source a]
url = {self.up.url('/a.atom')}

[source bad]
url = {self.up.url('/status/503')}

[topic cook]
title = Cooking
query = pasta
""")

    def tearDown(self):
        self.up.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, path, text):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def test_fetch_and_sources(self):
        out = tbtest.run("sources", "-c", self.config).stdout.decode()
        self.assertEqual(out.count("never"), 6, out)  # status, last success, next poll x2
        p = tbtest.run("fetch", "-c", self.config, check=False)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(p.returncode, 1, p.stderr)
        a = [l for l in lines if l.startswith("a ")]
        bad = [l for l in lines if l.startswith("bad ")]
        self.assertEqual(len(a), 1, lines)
        self.assertRegex(a[0], r"^a +200 +2 new, 0 updated +\d+\.\d\ds$")
        self.assertRegex(bad[0], r"^bad +503 +error: HTTP 503 ")
        self.assertIn("2 polled, 1 failed; 2 new, 0 updated entries", lines[-1])
        with open(os.path.join(self.tmp, "pub", "topics", "cook.atom"), "rb") as f:
            self.assertIn(b"Cooking pasta at home", f.read())
        # Only the named source, and now conditional: 304, exit 0.
        p = tbtest.run("fetch", "-c", self.config, "a")
        self.assertRegex(p.stdout.decode().splitlines()[0], r"^a +304 +not modified")
        self.assertEqual(tbtest.run("fetch", "-c", self.config, "nope", check=False).returncode, 2)
        table = tbtest.run("sources", "-c", self.config).stdout.decode().splitlines()
        self.assertTrue(table[0].startswith("NAME"))
        row = [l for l in table if l.startswith("bad ")][0]
        self.assertIn("HTTP 503", row)
        self.assertIn("503", row.split()[1])
        data = json.loads(tbtest.run("sources", "-c", self.config, "--json").stdout)
        a = [s for s in data if s["name"] == "a"][0]
        self.assertEqual((a["status"], a["entries"], a["last_error"]), ("304", 2, None))
        self.assertNotEqual(a["last_success"], "never")

    def test_parse_errors_recorded(self):
        self.up.write("page.html", "<html><body>not a feed</body></html>")
        self.up.write("cut.atom", atom("urn:feed:cut", FEED_A)[:-60])
        with open(self.config, "a", encoding="utf-8") as f:
            f.write(f"\n[source page]\nurl = {self.up.url('/page.html')}\n"
                    f"\n[source cut]\nurl = {self.up.url('/cut.atom')}\n")
        p = tbtest.run("fetch", "-c", self.config, "page", "cut", check=False)
        self.assertEqual(p.returncode, 1)
        data = {s["name"]: s for s in json.loads(
            tbtest.run("sources", "-c", self.config, "--json").stdout)}
        self.assertRegex(data["page"]["last_error"], r"^parse: .*html")
        self.assertEqual(data["page"]["failures"], 1)
        # A recovered parse stores what it got and keeps the warning.
        self.assertRegex(data["cut"]["last_error"], r"^parse: ")
        self.assertEqual(data["cut"]["failures"], 0)
        self.assertGreaterEqual(data["cut"]["entries"], 1)

    def test_invalid_utf8_recorded(self):
        """Invalid UTF-8 is repaired (read as windows-1252) and, like a malformed
        entity, recorded on the source for `tributary sources` to show."""
        doc = atom("urn:feed:bytes", FEED_A).encode("utf-8").replace(
            b"Cooking pasta", b"Cooking \x93pasta\x94", 1)
        with open(os.path.join(self.up.root, "bytes.atom"), "wb") as f:
            f.write(doc)
        # Other entries than bytes.atom's, which the topic must show.
        self.up.write("entity.atom", atom("urn:feed:entity", FEED_B).replace(
            "Protein folding", "Protein &nope; folding", 1))
        with open(self.config, "a", encoding="utf-8") as f:
            f.write(f"\n[source bytes]\nurl = {self.up.url('/bytes.atom')}\n"
                    f"\n[source entity]\nurl = {self.up.url('/entity.atom')}\n")
        p = tbtest.run("fetch", "-c", self.config, "bytes", "entity", check=False)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr)
        data = {s["name"]: s for s in json.loads(
            tbtest.run("sources", "-c", self.config, "--json").stdout)}
        self.assertRegex(data["entity"]["last_error"], r"^parse: line 1: Entity 'nope'")
        self.assertEqual(data["bytes"]["last_error"],
                         "parse: line 1: invalid UTF-8 (byte 0x93), read as windows-1252")
        self.assertEqual((data["bytes"]["failures"], data["bytes"]["entries"]), (0, 2))
        table = tbtest.run("sources", "-c", self.config).stdout.decode().splitlines()
        row = [l for l in table if l.startswith("bytes ")][0]
        self.assertIn("invalid UTF-8", row)
        with open(os.path.join(self.tmp, "pub", "topics", "cook.atom"), "rb") as f:
            self.assertIn("Cooking \u201cpasta\u201d".encode("utf-8"), f.read())

    def test_paused_source(self):
        # `enabled = no` is the user's pause: not polled, shown as "paused",
        # which is not the store's "gone" (a 410 answer).
        self.up.write("off.atom", atom("urn:feed:off", FEED_A))
        with open(self.config, "a", encoding="utf-8") as f:
            f.write(f"\n[source off]\nurl = {self.up.url('/off.atom')}\nenabled = no\n")
        p = tbtest.run("fetch", "-c", self.config, check=False)
        self.assertIn("2 polled, 1 failed", p.stdout.decode().splitlines()[-1])
        tbtest.wait_for(lambda: self.up.lines("/a.atom") and self.up.lines("/status/503"), 10,
                        step=0.05, what="the upstream's log of the two polls")
        self.assertEqual(self.up.lines("/off.atom"), [])
        row = [l for l in tbtest.run("sources", "-c", self.config).stdout.decode().splitlines()
               if l.startswith("off ")][0]
        self.assertEqual(row.split()[1], "paused", row)
        data = {s["name"]: s for s in json.loads(
            tbtest.run("sources", "-c", self.config, "--json").stdout)}
        off, a = data["off"], data["a"]
        self.assertEqual((off["status"], off["enabled"], off["paused"], off["gone"]),
                         ("paused", False, True, False))
        self.assertEqual((a["enabled"], a["paused"], a["gone"]), (True, False, False))

    def test_check(self):
        p = tbtest.run("check", "-c", self.config)
        self.assertIn("OK: 2 sources, 1 topics", p.stdout.decode())
        bad = os.path.join(self.tmp, "bad.ini")
        self.write(bad, "[tributary]\nbogus = 1\n\n[topic x]\nquery = \"unclosed\n")
        p = tbtest.run("check", "-c", bad, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"{bad}:2:", p.stderr)
        self.write(bad, "[tributary]\n\n[topic x]\nquery = \"unclosed\n")
        p = tbtest.run("check", "-c", bad, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, rf"{bad}:3: topic x: invalid query: .*")

    def test_opml_round_trip(self):
        opml = tbtest.run("export-opml", "-c", self.config).stdout
        urls = sorted(o.get("xmlUrl") for o in ET.fromstring(opml).iter("outline")
                      if o.get("xmlUrl"))
        self.assertEqual(urls, sorted([self.up.url("/a.atom"), self.up.url("/status/503")]))
        other = os.path.join(self.tmp, "other.ini")
        self.write(other, f"[tributary]\n\n[source a]\nurl = {self.up.url('/a.atom')}\n")
        p = tbtest.run("import-opml", os.path.join(self.tmp, "x.opml"), "-c", other, check=False)
        self.assertNotEqual(p.returncode, 0)  # no such file
        path = os.path.join(self.tmp, "x.opml")
        with open(path, "wb") as f:
            f.write(opml)
        p = tbtest.run("import-opml", path, "-c", other)
        self.assertIn("1 feeds added", p.stdout.decode())
        p = tbtest.run("import-opml", path, "-c", other)
        self.assertIn("0 feeds added", p.stdout.decode())
        again = tbtest.run("export-opml", "-c", other).stdout
        urls2 = sorted(o.get("xmlUrl") for o in ET.fromstring(again).iter("outline")
                       if o.get("xmlUrl"))
        self.assertEqual(urls2, urls)
        tbtest.run("check", "-c", other)

    def test_help(self):
        for cmd in ("serve", "fetch", "sources", "check", "import-opml", "export-opml"):
            p = tbtest.run(cmd, "--help")
            self.assertIn(f"usage: tributary {cmd}", p.stdout.decode())


if __name__ == "__main__":
    tbtest.main()
