#!/usr/bin/python3
"""Hostile HTML in every input format (tests/fixtures/xss/) must come out inert
in every output: `tributary merge` (Atom), `tributary parse` (JSON), and a
`tributary serve` run's /all.*, /topics/NAME.*, /index.html and the files in
public_dir. Every HTML payload is parsed as a reader would (html.parser) and
checked against the sanitizer's allow-list; every URL, title, name and term is
checked for javascript:/vbscript:/data: after a browser's normalization."""
import glob
import gzip
import html
import json
import os
import re
import shutil
import sys
import unittest
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import Daemon, TempDir, Upstream, fixture, free_port, http_get, run, wait_for

XSS = fixture("xss")
FEEDS = sorted(f for f in os.listdir(XSS) if not f.endswith(".py"))
REFUSED = {"jsonfeed-nul.json"}  # jansson refuses a NUL: a clean error, nothing kept
KEPT_TEXT = "<script>alert('kept-as-text')</script>"
ATOM = "{http://www.w3.org/2005/Atom}"

# The sanitizer's allow-list (src/sanitize.c).
ALLOWED = set("a abbr audio b blockquote br caption cite code dd del dfn div dl dt em figcaption "
              "figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p picture pre q s samp "
              "small source span strong sub sup table tbody td tfoot th thead time tr u ul var "
              "video".split())
ALLOWED_ATTRS = set("alt cite colspan datetime dir height href lang rowspan src title width".split())
# index.html is a page, not a fragment: its own skeleton is allowed too.
# The reading site's pages (src/page.c) add their layout, the subscribe
# boxes' read-only inputs and a collapsed abstract.
PAGE = ALLOWED | {"html", "head", "meta", "title", "link", "body", "header", "nav", "main",
                  "section", "article", "footer", "details", "summary", "label", "input"}
PAGE_ATTRS = ALLOWED_ATTRS | {"charset", "rel", "type", "name", "content", "class", "id",
                              "aria-label", "aria-labelledby", "aria-current", "for", "readonly",
                              "value"}
BAD_SCHEMES = ("javascript", "vbscript", "data")
URL_ATTRS = set("href src action formaction xlink:href srcset poster background cite data "
                "codebase dynsrc lowsrc longdesc usemap profile manifest".split())


def scheme(value):
    """The scheme a browser would see: entities decoded (twice, for readers that
    decode again), whitespace and controls removed, lower-cased; "" if none."""
    v = html.unescape(html.unescape(value))
    v = "".join(c for c in v if ord(c) > 0x20 and ord(c) != 0x7f and c != "\ufffd").lower()
    m = re.match(r"([a-z][a-z0-9+.-]*):", v)
    return m.group(1) if m else ""


def bad_url(value):
    """Whether value, or a candidate of a srcset-like list in it, has a bad scheme."""
    parts = [value] + [p.strip().split(" ")[0] for p in value.split(",")]
    return any(scheme(p) in BAD_SCHEMES for p in parts)


class Inspector(HTMLParser):
    """Collects every violation in one HTML document or fragment."""

    def __init__(self, where, elements, attrs):
        super().__init__(convert_charrefs=True)
        self.where, self.elements, self.attrs = where, elements, attrs
        self.problems, self.text = [], []

    def fail(self, what):
        self.problems.append(f"{self.where}: {what}")

    def handle_starttag(self, tag, attrs):
        if tag not in self.elements:
            self.fail(f"element <{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name == "style" or name not in self.attrs:
                self.fail(f"attribute {name}={value!r} on <{tag}>")
            if name in URL_ATTRS and bad_url(value):
                self.fail(f"URL {name}={value!r} on <{tag}>")
            if tag == "meta" and name not in ("charset", "name", "content"):
                self.fail(f"meta attribute {name}")
            if tag == "input" and name == "type" and value != "url":
                self.fail(f"input type {value!r}")

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.fail(f"comment {data!r}")

    def handle_pi(self, data):
        self.fail(f"processing instruction {data!r}")

    def unknown_decl(self, data):
        self.fail(f"declaration {data!r}")


def check_html(where, value, problems, texts, page=False):
    p = Inspector(where, PAGE if page else ALLOWED, PAGE_ATTRS if page else ALLOWED_ATTRS)
    p.feed(value)
    p.close()
    problems += p.problems
    texts.append("".join(p.text))


def check_plain(where, value, problems):
    """A title, name, term or URL: no javascript:/vbscript:/data: scheme."""
    if value and bad_url(value):
        problems.append(f"{where}: {value!r}")


def check_atom(doc, problems, texts):
    root = ET.fromstring(doc)
    for el in root.iter():
        tag = el.tag.replace(ATOM, "")
        if tag in ("title", "subtitle", "summary", "content", "rights"):
            kind = el.get("type", "text")
            if kind == "html":
                check_html(f"atom {tag}", el.text or "", problems, texts)
            elif kind == "xhtml":
                problems.append(f"atom {tag}: type=xhtml is never written")
            else:
                texts.append(el.text or "")
                if tag == "title":
                    check_plain("atom title", el.text, problems)
        elif tag == "link":
            check_plain(f"atom link rel={el.get('rel')}", el.get("href", ""), problems)
        elif tag in ("uri", "icon", "logo", "name", "id"):
            check_plain(f"atom {tag}", el.text, problems)
        elif tag == "category":
            for a in ("term", "scheme", "label"):
                check_plain(f"atom category {a}", el.get(a), problems)


def check_rss(doc, problems, texts):
    root = ET.fromstring(doc)
    for el in root.iter():
        tag = re.sub(r"\{.*\}", "", el.tag)
        if tag in ("description", "encoded"):
            check_html(f"rss {tag}", el.text or "", problems, texts)
        elif tag in ("title", "link", "creator", "category", "comments", "url", "guid"):
            check_plain(f"rss {tag}", el.text, problems)
        for a in ("href", "url", "domain"):
            check_plain(f"rss {tag}@{a}", el.get(a), problems)


HTML_KEYS = ("content_html", "summary")
PLAIN_KEYS = ("url", "external_url", "image", "banner_image", "home_page_url", "feed_url",
              "icon", "favicon", "avatar", "next_url", "link", "self", "hub", "href", "uri",
              "canon_link", "title", "name", "term", "scheme", "tags")


def check_json(node, problems, texts, key="", published=None):
    """JSON Feed (content_html, summary) and `parse` output ({"html": true, "value": ..},
    where "id" is the upstream id as given, not a published one)."""
    if published is None:
        published = isinstance(node, dict) and "version" in node
    if isinstance(node, dict):
        if node.get("html") is True and isinstance(node.get("value"), str):
            check_html(f"json {key}", node["value"], problems, texts)
        for k, v in node.items():
            check_json(v, problems, texts, k, published)
    elif isinstance(node, list):
        for v in node:
            check_json(v, problems, texts, key, published)
    elif isinstance(node, str):
        if key in HTML_KEYS:
            check_html(f"json {key}", node, problems, texts)
        elif key in PLAIN_KEYS or (published and key == "id"):
            check_plain(f"json {key}", node, problems)
        elif key in ("content_text", "value", "text"):
            texts.append(node)


def check_opml(doc, problems, texts):
    for el in ET.fromstring(doc).iter():
        for name, value in el.attrib.items():
            check_plain(f"opml {el.tag}@{name}", value, problems)


OWN = {}  # the site's stylesheet and icon as served: no upstream text reaches them


def check_doc(name, data, problems, texts):
    """Checks one published document by its file name."""
    if name.endswith(".gz"):
        name, data = name[:-3], gzip.decompress(data)
    if name.endswith(".atom"):
        check_atom(data, problems, texts)
    elif name.endswith(".rss"):
        check_rss(data, problems, texts)
    elif name.endswith(".json"):
        check_json(json.loads(data), problems, texts)
    elif name.endswith(".html") or name == "/":
        check_html(f"page {name}", data.decode("utf-8"), problems, texts, page=True)
    elif name.endswith(".opml"):
        check_opml(data, problems, texts)
    elif name.endswith("style.css") or name.endswith("favicon.svg"):
        if data != OWN[os.path.basename(name)]:
            problems.append(f"{name}: not the site's own document")
    else:
        problems.append(f"unexpected document {name}")


class Inspect(unittest.TestCase):
    """The checker itself finds what it must (a checker that cannot fail proves nothing)."""

    def problems(self, fragment):
        problems, texts = [], []
        check_html("t", fragment, problems, texts)
        return problems

    def test_catches(self):
        for bad in ("<script>x</script>", "<svg onload=x>", "<p style='x'>",
                    "<a href='jav&#x09;ascript:x'>", "<a href=' JAVA\nSCRIPT&colon;x'>",
                    "<img src='x' srcset='a 1x, data:x 2x'>", "<iframe>", "<b onclick=x>",
                    "<a href='&#1;vbscript:x'>", "<!-- x -->", "<form action=x>"):
            self.assertTrue(self.problems(bad), bad)
        for good in ("<p>a &lt;script&gt;</p>", "<a href='https://x/javascript:'>x</a>",
                     "<img src='/data:x' alt='javascript: a'>", "<a href='javascript%3Ax'>"):
            self.assertEqual(self.problems(good), [], good)


class OneShot(unittest.TestCase):
    def test_parse_and_merge(self):
        for name in FEEDS:
            with self.subTest(feed=name):
                problems, texts = [], []
                p = run("parse", os.path.join(XSS, name), check=False)
                if name in REFUSED:
                    self.assertEqual(p.returncode, 1, p.stderr)
                    self.assertEqual(p.stderr.count("\n"), 1, p.stderr)
                    continue
                self.assertEqual(p.returncode, 0, p.stderr)
                parsed = json.loads(p.stdout)
                self.assertTrue(parsed["entries"])
                check_json(parsed, problems, texts)
                m = run("merge", os.path.join(XSS, name))
                check_atom(m.stdout, problems, texts)
                self.assertEqual(problems, [])
                with open(os.path.join(XSS, name), encoding="utf-8", errors="replace") as f:
                    source = html.unescape(html.unescape(f.read()))
                # (In atom-text.atom the whole body is text, one escape deeper.)
                if KEPT_TEXT in source and name != "atom-text.atom":
                    self.assertTrue(KEPT_TEXT in "".join(texts), "escaped markup must stay text")

    def test_merge_all(self):
        problems, texts = [], []
        m = run("merge", *[os.path.join(XSS, n) for n in FEEDS])
        check_atom(m.stdout, problems, texts)
        self.assertEqual(problems, [])
        self.assertTrue(KEPT_TEXT in "".join(texts), "escaped markup must stay text")
        self.assertEqual(len(ET.fromstring(m.stdout).findall(ATOM + "entry")), 30)


class Served(unittest.TestCase):
    def test_serve(self):
        with TempDir() as t:
            root = os.path.join(t, "www")
            shutil.copytree(XSS, root)
            up = Upstream(root, os.path.join(t, "upstream.log"))
            port = free_port()
            base = f"http://127.0.0.1:{port}/"
            conf = os.path.join(t, "t.ini")
            sources = "".join(f"[source s{i}]\nurl = {up.base}{n}\ninterval = 1s\n\n"
                              for i, n in enumerate(FEEDS))
            with open(conf, "w") as f:
                f.write(f"[tributary]\ndatabase = t.db\npublic_dir = pub\n"
                        f"listen = 127.0.0.1:{port}\nbase_url = {base}\n\n{sources}"
                        "[topic xss]\ntitle = <script>alert('topic')</script> \"XSS\" & co\n"
                        "query = xsstest\n")
            d = Daemon(conf, os.path.join(t, "serve.log"))
            try:
                def all_in():
                    s, _, body = http_get(base + "all.json")
                    return s == 200 and len(json.loads(body)["items"]) >= 30

                wait_for(all_in, 60, what="every fixture's entries in /all.json")
                wait_for(lambda: http_get(base + "topics/xss.atom")[0] == 200, 20,
                         what="the topic feed")
                problems, texts = [], []
                for path in ("all.atom", "all.rss", "all.json", "topics/xss.atom",
                             "topics/xss.rss", "topics/xss.json", "index.html", "/",
                             "topics/xss.html", "sources.opml", "topics.opml", "trending.atom",
                             "trending.rss", "trending.json", "trending/xss.atom", "trending/xss.rss",
                             "trending/xss.json", "trending.html", "trending/xss.html"):
                    status, _, body = http_get(base + path.lstrip("/"))
                    self.assertEqual(status, 200, path)
                    check_doc(path, body, problems, texts)
                files = [f for f in glob.glob(os.path.join(t, "pub", "**", "*"), recursive=True)
                         if os.path.isfile(f)]
                for own in ("style.css", "favicon.svg"):
                    OWN[own] = http_get(base + own)[2]
                self.assertIn(b"prefers-color-scheme", OWN["style.css"])
                self.assertEqual(len(files), 40)  # 20 documents, each with .gz
                for path in files:
                    with open(path, "rb") as f:
                        check_doc(os.path.relpath(path, t), f.read(), problems, texts)
                self.assertEqual(problems, [])
                self.assertTrue(KEPT_TEXT in "".join(texts), "escaped markup must stay text")
                self.assertIn("&lt;script&gt;alert(&#39;topic&#39;)", http_get(base)[2].decode())
                self.assertTrue(d.alive(), d.log_text())
            finally:
                self.assertEqual(d.stop(), 0)
                up.stop()


if __name__ == "__main__":
    tbtest.main()
