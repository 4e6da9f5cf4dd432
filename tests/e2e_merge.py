"""End-to-end tests of `tributary merge` and `tributary parse` on real files,
a real HTTP server on 127.0.0.1, jing and python3-feedparser."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import (TempDir, feedparse, fixture, jing_errors, mask_feed_updated,
                    run)

M = lambda name: fixture("merge", name)
SOURCES = [M("arxiv.rss"), M("digest.atom"), M("blog.rdf")]
PAPERS = {
    "Autoregressive Entity Retrieval",
    "Retrieval Head Mechanistically Explains Long-Context Factuality",
    "Landmark Attention: Random-Access Infinite Context Length for Transformers",
    "Titans: Learning to Memorize at Test Time",
    "Multi-level Matching Network for Multimodal Entity Linking",
}


class Merge(unittest.TestCase):
    def merged(self, *args):
        out = run("merge", *args).stdout
        self.assertEqual(jing_errors(out), "", "merge output is not valid Atom")
        return out

    def test_cross_source_duplicates_merged_once(self):
        d = feedparse(self.merged(*SOURCES))
        titles = [e.title for e in d.entries]
        self.assertEqual(sorted(titles), sorted(PAPERS), "each paper exactly once")
        self.assertEqual(len(titles), len(set(titles)))

    def test_output_is_valid_atom(self):
        out = run("merge", *SOURCES).stdout
        self.assertEqual(jing_errors(out), "")

    def test_first_copy_keeps_its_id_and_origin(self):
        d = feedparse(self.merged(*SOURCES))
        by_title = {e.title: e for e in d.entries}
        aer = by_title["Autoregressive Entity Retrieval"]
        self.assertEqual(aer.id, "oai:arXiv.org:2010.00904v2")
        self.assertEqual(aer.source.title, "cs.CL updates on arXiv.org")
        titans = by_title["Titans: Learning to Memorize at Test Time"]
        self.assertEqual(titans.id, "tag:digest.example.org,2024:entry-2")
        self.assertEqual(titans.link, "https://example.org/papers/titans/")
        self.assertEqual(titans.source.title, "Trending Papers Digest")

    def test_links_are_clean_and_absolute(self):
        out = self.merged(*SOURCES)
        self.assertNotIn(b"utm_", out)
        self.assertNotIn(b"fbclid", out)
        d = feedparse(out)
        for e in d.entries:
            self.assertRegex(e.link, r"^https?://", e.title)

    def test_sanitized_content(self):
        out = self.merged(*SOURCES)
        self.assertNotIn(b"<script", out.lower())
        self.assertNotIn(b"alert(1)", out)
        d = feedparse(out)
        landmark = [e for e in d.entries if e.title.startswith("Landmark")][0]
        html = landmark.content[0].value
        # relative to the channel's <link> when the document has no URL of its own
        self.assertIn('href="http://rss.arxiv.org/abs/2305.16300"', html)
        titans = [e for e in d.entries if e.title.startswith("Titans")][0]
        self.assertIn("https://digest.example.org/attention.html", titans.content[0].value)

    def test_deterministic_output(self):
        a = mask_feed_updated(run("merge", *SOURCES).stdout)
        b = mask_feed_updated(run("merge", *SOURCES).stdout)
        self.assertEqual(a, b)

    def test_golden(self):
        got = mask_feed_updated(run("merge", *SOURCES).stdout)
        golden_path = M("golden.atom")
        with open(golden_path, encoding="utf-8") as f:
            want = f.read()
        if os.environ.get("TB_UPDATE_GOLDEN"):
            # Update mode rewrites the file and compares nothing: it reports skipped
            # (and fails under CI), never passed.
            if got != want:
                with open(golden_path, "w", encoding="utf-8") as f:
                    f.write(got)
            tbtest.missing(f"TB_UPDATE_GOLDEN: {golden_path} rewritten "
                           f"({'changed' if got != want else 'unchanged'}), not compared")
        self.assertEqual(got, want)

    def test_newest_first_and_limit(self):
        d = feedparse(self.merged("--limit", "2", *SOURCES))
        self.assertEqual(len(d.entries), 2)
        full = feedparse(self.merged(*SOURCES))
        self.assertEqual([e.id for e in d.entries], [e.id for e in full.entries[:2]])
        stamps = [e.get("published_parsed") or e.updated_parsed for e in full.entries]
        self.assertEqual(stamps, sorted(stamps, reverse=True))

    def test_topic_query(self):
        d = feedparse(self.merged("--topic", '"entity linking" OR NER', "--title",
                                  "Entity linking", *SOURCES))
        self.assertEqual(d.feed.title, "Entity linking")
        self.assertEqual(sorted(e.title for e in d.entries),
                         ["Autoregressive Entity Retrieval",
                          "Multi-level Matching Network for Multimodal Entity Linking"])
        d = feedparse(self.merged("--topic", "attention", *SOURCES))
        self.assertIn("Titans: Learning to Memorize at Test Time", [e.title for e in d.entries])

    def test_bad_topic_is_a_clear_error(self):
        for q in ['"unterminated', "AND AND", "nosuchcolumn:foo"]:
            p = run("merge", "--topic", q, *SOURCES, check=False)
            self.assertEqual(p.returncode, 2, q)
            self.assertIn("invalid --topic query", p.stderr)
            self.assertEqual(p.stdout, b"")

    def test_bad_source_warns_and_rest_is_merged(self):
        with TempDir() as t:
            bad = os.path.join(t, "broken.xml")
            with open(bad, "w") as f:
                f.write("<html><body>not a feed</body></html>")
            missing = os.path.join(t, "missing.xml")
            p = run("merge", bad, M("arxiv.rss"), missing)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 2, p.stderr)
            self.assertIn("broken.xml", lines[0])
            self.assertIn("missing.xml", lines[1])
            self.assertEqual(len(feedparse(p.stdout).entries), 3)
            p = run("merge", bad, missing, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("no source could be read", p.stderr)

    def test_stdin_source(self):
        with open(M("arxiv.rss"), "rb") as f:
            p = run("merge", "-", stdin=f.read())
        self.assertEqual(len(feedparse(p.stdout).entries), 3)

    def test_updated_entry_updates_in_place(self):
        with TempDir() as t:
            db = os.path.join(t, "m.db")
            v1 = os.path.join(t, "feed.rss")
            shutil.copy(M("arxiv.rss"), v1)
            first = feedparse(run("merge", "--db", db, v1).stdout)
            with open(v1, encoding="utf-8") as f:
                text = f.read().replace("<title>Autoregressive Entity Retrieval</title>",
                                        "<title>Autoregressive Entity Retrieval (v3)</title>")
            with open(v1, "w", encoding="utf-8") as f:
                f.write(text)
            second = feedparse(run("merge", "--db", db, v1).stdout)
            self.assertEqual(len(second.entries), len(first.entries))
            ids1 = sorted(e.id for e in first.entries)
            self.assertEqual(sorted(e.id for e in second.entries), ids1)
            titles = [e.title for e in second.entries]
            self.assertIn("Autoregressive Entity Retrieval (v3)", titles)
            self.assertNotIn("Autoregressive Entity Retrieval", titles)

    def test_hostile_documents_expand_nothing(self):
        xxe = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b'<rss version="2.0"><channel><title>t</title><item><title>a &x; b</title>'
               b'<guid>urn:x:1</guid><description>&x;</description></item></channel></rss>')
        laughs = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
                  + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">'
                             % ((98 + i,) + (97 + i,) * 10) for i in range(8))
                  + b']><rss version="2.0"><channel><title>t</title><item><title>&i;</title>'
                    b'<guid>urn:x:2</guid></item></channel></rss>')
        with TempDir() as t:
            paths = []
            for name, body in (("xxe.rss", xxe), ("laughs.rss", laughs)):
                paths.append(os.path.join(t, name))
                with open(paths[-1], "wb") as f:
                    f.write(body)
            p = run("merge", *paths, M("arxiv.rss"), check=False, timeout=60)
            self.assertNotIn(b"root:", p.stdout)
            self.assertNotIn(b"aaaaaaaaaaaaaaaaaaaa", p.stdout)
            self.assertLess(len(p.stdout), 100000)


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class MergeOverHttp(unittest.TestCase):
    def setUp(self):
        handler = lambda *a, **kw: Handler(*a, directory=fixture("merge"), **kw)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_urls_and_files_mix(self):
        p = run("merge", self.base + "arxiv.rss", M("digest.atom"), self.base + "missing.rss")
        self.assertIn("missing.rss", p.stderr)
        self.assertIn("404", p.stderr)
        self.assertEqual(len(feedparse(p.stdout).entries), 5)

    def test_non_http_scheme_is_not_fetched(self):
        p = run("merge", "file:///etc/passwd", M("arxiv.rss"))
        self.assertIn("file:///etc/passwd", p.stderr)
        self.assertNotIn(b"root:", p.stdout)


class RoundTrip(unittest.TestCase):
    def test_merge_output_read_back(self):
        out = run("merge", *SOURCES).stdout
        with TempDir() as t:
            path = os.path.join(t, "merged.atom")
            with open(path, "wb") as f:
                f.write(out)
            parsed = json.loads(run("parse", path).stdout)
        fp = feedparse(out)
        self.assertEqual(len(parsed["entries"]), len(fp.entries))
        for je, fe in zip(parsed["entries"], fp.entries):
            self.assertEqual(je["title"], fe.title)
            self.assertEqual(je["id"], fe.id)
            self.assertEqual(je["link"], fe.link)
            self.assertEqual(je.get("updated"),
                             fe.get("updated") and fe.updated.replace("+00:00", "Z"))
            fa = [a.get("name") for a in fe.get("authors", []) if a.get("name")]
            self.assertEqual([a["name"] for a in je.get("authors", [])], fa)
            self.assertEqual([c["term"] for c in je.get("categories", [])],
                             [t.term for t in fe.get("tags", [])])
        # every field of the inputs survives: authors, categories, dates, content
        aer = [e for e in fp.entries if e.title == "Autoregressive Entity Retrieval"][0]
        self.assertEqual([t.term for t in aer.tags], ["cs.CL", "cs.IR"])
        self.assertEqual(aer.published, "2020-10-05T08:00:00Z")
        self.assertIn("entity linking", aer.summary)
        titans = [e for e in fp.entries if e.title.startswith("Titans")][0]
        self.assertEqual([a.name for a in titans.authors], ["Ali Behrouz", "Peilin Zhong"])
        self.assertEqual(titans.published, "2025-01-02T07:30:00Z")


GEN_CORPUS = os.path.join(os.environ.get("TB_SOURCE_DIR", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..")), "contrib", "bench", "gen_corpus.py")


class FastPathMatchesStore(unittest.TestCase):
    """Without --db, merge dedupes in memory; with --db it goes through SQLite.
    Both must print the same bytes (and the same warnings) for any input."""

    def same(self, *args):
        with TempDir() as t:
            fast = run("merge", *args, check=False)
            stored = run("merge", "--db", os.path.join(t, "m.db"), *args, check=False)
        self.assertEqual(fast.returncode, stored.returncode, fast.stderr + stored.stderr)
        self.assertEqual(fast.stderr, stored.stderr)
        self.assertEqual(mask_feed_updated(fast.stdout) if fast.stdout else "",
                         mask_feed_updated(stored.stdout) if stored.stdout else "")
        return fast

    def test_fixtures(self):
        self.same(*SOURCES)
        self.same("--limit", "2", *SOURCES)
        self.same("--limit", "1", "--title", "One", *reversed(SOURCES))
        # the same source twice is one source; its second copy changes nothing
        self.same(M("digest.atom"), *SOURCES, M("arxiv.rss"))

    def test_category_labels(self):
        """term, scheme and label of atom:category survive parse, dedupe and
        the store into the merged feed."""
        out = self.same(fixture("parse", "categories.atom")).stdout
        self.assertIn(b'<category term="cs.CL" scheme="http://arxiv.org/schemas/atom" '
                      b'label="Computation and Language"/>', out)
        self.assertIn(b'<category term="fish" label="Fish &amp; Chips"/>', out)
        self.assertIn(b'<category term="nlp"/>', out)
        self.assertIn(b'<category term="Only a label" label="Only a label"/>', out)

    def test_media_content(self):
        """Atom content of a non-text media type (base64, RFC 4287 4.1.3.3) is
        published with its type, through dedupe and through the store; the
        summary it requires (4.1.1.1) is the title when the entry has none."""
        out = self.same(fixture("parse", "atom10-media.xml")).stdout
        self.assertEqual(jing_errors(out), "")
        png = (b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJ"
               b"RU5ErkJggg==")
        self.assertIn(b'<summary type="text">The first figure, as an image.</summary>\n'
                      b'    <content type="image/png">' + png + b"</content>", out)
        self.assertIn(b'<summary type="text">The paper as a PDF</summary>\n'
                      b'    <content type="application/pdf">JVBERi0xLjQK', out)
        self.assertNotIn(b"script", out)  # not base64: dropped

    def test_hostile_and_odd_fixtures(self):
        d = fixture("parse")
        files = sorted(os.path.join(d, n) for n in os.listdir(d) if not n.endswith(".py"))
        self.assertGreater(len(files), 20)
        self.same(*files, *SOURCES)

    def test_generated_corpus(self):
        with TempDir() as t:
            corpus = os.path.join(t, "corpus")
            subprocess.run([sys.executable, GEN_CORPUS, "--out", corpus, "--feeds", "16",
                            "--entries", "40", "--seed", "7", "--json-share", "0.25",
                            "--dup-share", "0.4"], check=True, capture_output=True)
            files = sorted(os.path.join(corpus, n) for n in os.listdir(corpus)
                           if n.startswith("feed"))
            # A feed carrying one paper twice under two guids, the second
            # copy changed: it updates the first in place (same origin).
            # An arXiv listing's: any other copy would give way to arXiv's
            # own record of the paper (its title, authors and abstract win).
            rss = [f for f in files if f.endswith(".rss") and "arxiv.org/list/" in open(
                f, encoding="utf-8").read()][0]
            with open(rss, encoding="utf-8") as f:
                text = f.read()
            start, end = text.index("<item>"), text.index("</item>") + len("</item>")
            item = text[start:end]
            twin = re.sub(r"<guid[^>]*>([^<]*)</guid>", r"<guid>\1-twin</guid>", item)
            twin = twin.replace("<title>", "<title>Revised: ", 1)
            self.assertNotEqual(twin, item)
            changed = os.path.join(t, "changed.rss")
            with open(changed, "w", encoding="utf-8") as f:
                f.write(text[:end] + twin + text[end:])
            out = self.same(changed, *files, files[0])
            self.assertTrue(b"<title type=\"text\">Revised: " in out.stdout, "no update in place")
            self.same("--limit", "25", *files)


class ArxivAnnouncements(unittest.TestCase):
    """arXiv's RSS (rss.arxiv.org/rss/cs.CL): "arXiv:ID Announce Type: T
    Abstract:" before every abstract and every author in one dc:creator.
    The abstract alone is published, with one author per name."""
    FIXTURE = fixture("parse", "rss20-arxiv-cscl.xml")
    AUTHORS = {
        "2403.05577": ["Ada Lovelace", "Alan Turing", "Grace Hopper"],
        "2403.05580": ["Edsger W. Dijkstra", "Barbara Liskov", "Donald E. Knuth"],
        "2403.05601": ["Frances Allen"],
        "2402.17763": ["Martin Luther King, Jr.", "Leslie Lamport", "Radia Perlman"],
        "2310.01234": ["John McCarthy", "Tony Hoare"],
    }

    def test_parse(self):
        d = json.loads(run("parse", self.FIXTURE).stdout)
        self.assertEqual(len(d["entries"]), 5)
        for e in d["entries"]:
            aid = e["link"].rsplit("/", 1)[-1]
            self.assertEqual([a["name"] for a in e["authors"]], self.AUTHORS[aid])
            self.assertNotIn("Announce Type", e["summary"]["value"])
            self.assertFalse(e["summary"]["value"].startswith(("arXiv:", "Abstract")))

    def test_merged_atom(self):
        import xml.etree.ElementTree as ET
        out = run("merge", self.FIXTURE).stdout
        self.assertEqual(jing_errors(out), "")
        ns = {"a": "http://www.w3.org/2005/Atom"}
        entries = ET.fromstring(out).findall("a:entry", ns)
        self.assertEqual(len(entries), 5)
        for e in entries:
            aid = e.find("a:link", ns).get("href").rsplit("/", 1)[-1]
            names = [a.find("a:name", ns).text for a in e.findall("a:author", ns)]
            self.assertEqual(names, self.AUTHORS[aid])
            summary = e.find("a:summary", ns).text
            self.assertNotIn("Announce Type", summary)
        landmark = [e for e in entries if e.find("a:title", ns).text.startswith("Landmark")][0]
        self.assertTrue(landmark.find("a:summary", ns).text.startswith(
            "While transformers have shown remarkable success"))


class CharRefs(unittest.TestCase):
    """Every class of character reference (named, decimal, hex, astral plane,
    invalid, unknown) in titles and summaries of Atom (type="html"), RSS
    (title with entity-encoded markup) and JSON Feed reaches the merged Atom
    feed as the characters a reader expects."""
    TEXT = "Caf\u00e9 \u2014 \u2026 \u00e9 \u00e9 \U0001F600 \U0001F600 [] &bogus;"

    def test_titles_and_summaries(self):
        import html
        import xml.etree.ElementTree as ET
        P = lambda name: fixture("parse", name)
        out = run("merge", P("charrefs.atom"), P("charrefs.rss"), P("charrefs.json")).stdout
        ns = {"a": "http://www.w3.org/2005/Atom"}
        entries = ET.fromstring(out).findall("a:entry", ns)
        titles = {e.find("a:title", ns).text: e for e in entries}
        for fmt in ("Atom", "RSS", "JSON"):
            e = titles.get(f"{fmt} {self.TEXT}")
            self.assertIsNotNone(e, f"{fmt} title: {sorted(titles)}")
            self.assertEqual(e.find("a:source/a:title", ns).text,
                             f"{fmt} {self.TEXT}" if fmt != "JSON" else
                             "JSON character references")
            summary = e.find("a:summary", ns)
            self.assertEqual(summary.get("type"), "html", fmt)
            text = html.unescape(re.sub(r"<[^>]*>", "", summary.text))
            self.assertEqual(" ".join(text.replace("\u00a0", " ").split()),
                             f"{fmt} {self.TEXT}", fmt)
        self.assertIn("Atom text &eacute; stays", titles)
        self.assertIn("RSS plain AT&T < 3", titles)
        self.assertIn("JSON plain AT&T <3", titles)


if __name__ == "__main__":
    tbtest.main()
