#!/usr/bin/python3
"""The mail commands of the binary: `subscribe`, `subscribers --json`,
`unsubscribe` and `digest --now [--dry-run]`, with papers fetched from
loopback upstreams (arXiv listings in one group, a Hugging Face feed and a
newsletter, a hostile title and author among them). Every digest is parsed
with Python's email package under its strict policy: the header fields,
multipart/alternative with text/plain then text/html, quoted-printable
lines, every link pointing to the site or to the papers' sources, the HTML
part through `tidy`. Then digests sent to an SMTP stand-in, nothing new
meaning no message, a server that cannot be reached meaning a non-zero
exit, and the commands refusing to run without [mail]."""
import email
import email.policy
import email.utils
import html.parser
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import TempDir, Upstream, main, need_module, need_tool, run  # noqa: E402

A, B, C, D = "2501.00001", "2501.00002", "2501.00003", "2501.00004"
HOSTILE = "Walrus <script>alert(1)</script> tusks"
TOPIC_TITLE = "Walrus papers — morsas"


def rfc822(t):
    return email.utils.formatdate(t, usegmt=True)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def arxiv_item(pid, title, t):
    return f"""<item><title>{esc(title)}</title><link>https://arxiv.org/abs/{pid}</link>
<description>arXiv:{pid}v1 Announce Type: new Abstract: {esc(title)} about walruses.</description>
<guid isPermaLink="false">oai:arXiv.org:{pid}v1</guid><pubDate>{rfc822(t)}</pubDate></item>"""


def files(now, extra=(), extra_t=None):
    """The upstreams' documents: A, B an hour old, C three days old, and
    `extra` papers [(id, title)] published at extra_t."""
    t, old = now - 3600, now - 3 * 86400
    items = [arxiv_item(A, "Walrus tusks as sensors", t),
             arxiv_item(B, "Counting walruses by radar", t),
             arxiv_item(C, "An older walrus paper", old)]
    items += [arxiv_item(pid, title, extra_t) for pid, title in extra]
    listing = lambda cat: f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{cat} updates on arXiv.org</title>
<link>http://rss.arxiv.org/rss/{cat}</link><description>{cat}</description>
{"".join(items)}</channel></rss>"""
    hf = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:hf</id><title>Hugging Face daily papers</title>
<link href="https://huggingface.co/papers"/><updated>{iso(t)}</updated>
<entry><id>https://huggingface.co/papers/{A}</id><title>Walrus tusks as sensors</title>
<link href="https://huggingface.co/papers/{A}"/>
<updated>{iso(t)}</updated><summary>Upvoted: walruses.</summary></entry>
<entry><id>https://huggingface.co/papers/{D}</id><title type="text">{esc(HOSTILE)}</title>
<author><name>&lt;b&gt;Eve&lt;/b&gt; &amp; "Mallory"</name></author>
<link href="https://huggingface.co/papers/{D}"/>
<updated>{iso(t)}</updated><summary>Upvoted: walruses.</summary></entry></feed>"""
    news = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:news</id><title>The Batch</title>
<link href="https://news.example/"/><updated>{iso(t)}</updated>
<entry><id>urn:news:1</id><title>Issue 1</title><link href="https://news.example/1"/>
<updated>{iso(t)}</updated><published>{iso(t)}</published>
<content type="html">&lt;p&gt;&lt;a href="https://arxiv.org/abs/{A}"&gt;one&lt;/a&gt;,
&lt;a href="https://arxiv.org/abs/{B}"&gt;two&lt;/a&gt;&lt;/p&gt;</content></entry></feed>"""
    return {"cl.rss": listing("cs.CL"), "lg.rss": listing("cs.LG"), "hf.atom": hf,
            "news.atom": news}


# What a digest may link to besides the site: the papers and their sources' entries.
def upstream_links(extra=()):
    ids = [A, B, C] + [pid for pid, _ in extra]
    return ({f"https://arxiv.org/abs/{i}" for i in ids}
            | {f"https://huggingface.co/papers/{i}" for i in (A, D)} | {"https://news.example/1"})


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def config(t, up, base, smtp_port, mail=True):
    text = f"""[tributary]
database = {os.path.join(t, "t.db")}
public_dir = {os.path.join(t, "pub")}
base_url = {base}
title = Walrus watch

[trending]
resolve_arxiv = no

[source arxiv-cs-cl]
url = {up.base}cl.rss
group = arxiv

[source arxiv-cs-lg]
url = {up.base}lg.rss
group = arxiv

[source hf]
url = {up.base}hf.atom

[source news]
url = {up.base}news.atom

[topic walrus]
title = {TOPIC_TITLE}
query = walruses

[topic zebra]
title = Zebras
query = zebras
"""
    if mail:
        text += f"""
[mail]
smtp = smtp://127.0.0.1:{smtp_port}
starttls = no
from = Walrus watch <papers@example.org>
"""
    return text


def mbox(data):
    """The messages of `digest --dry-run`'s mbox output."""
    parts = re.split(rb"(?m)^From tributary@localhost [^\n]*\n", data)
    if parts[0].strip():
        raise AssertionError(f"text before the first message: {parts[0][:200]!r}")
    return [p[:-1] if p.endswith(b"\n") else p for p in parts[1:]]


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [v for k, v in attrs if k == "href"]


class Digest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.t = self.tmp.__enter__()
        self.www = os.path.join(self.t, "www")
        os.makedirs(self.www)
        self.now = int(time.time())
        for name, text in files(self.now).items():
            write(os.path.join(self.www, name), text)
        self.up = Upstream(self.www, os.path.join(self.t, "up.log"))
        self.base = "https://walrus.example/watch/"
        self.conf = os.path.join(self.t, "t.ini")
        self.srv = None

    def tearDown(self):
        self.up.stop()
        if self.srv is not None:
            self.srv.stop()
        self.tmp.__exit__(None, None, None)

    def tb(self, *args, check=True):
        return run(args[0], "-c", self.conf, *args[1:], check=check)

    def subscribers(self):
        return {s["address"]: s for s in json.loads(self.tb("subscribers", "--json").stdout)}

    def check_message(self, raw, rcpt):
        """Parses one digest strictly and checks its shape; returns (msg, html, text)."""
        m = email.message_from_bytes(raw, policy=email.policy.strict)
        head, _, body = raw.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            limit = 998 if line.startswith(b"List-Unsubscribe: <") else 78
            self.assertLessEqual(len(line), limit, line)
        for line in body.split(b"\r\n"):
            self.assertLessEqual(len(line), 76, line)
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "a bare LF")
        self.assertEqual(m["From"], "Walrus watch <papers@example.org>")
        self.assertEqual(m["To"], rcpt)
        self.assertIn(f"\r\nTo: {rcpt}\r\n".encode(), head)
        self.assertEqual(m["MIME-Version"], "1.0")
        self.assertEqual(m["Auto-Submitted"], "auto-generated")
        self.assertEqual(m["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
        self.assertRegex(m["Message-ID"], r"^<tributary\.digest\.\d+\.\d+@example\.org>$")
        self.assertRegex(m["List-Id"], r"<tributary-digest\.example\.org>$")
        unsub = re.fullmatch(r"<(.*)>", str(m["List-Unsubscribe"])).group(1)
        self.assertTrue(unsub.startswith(self.base + "unsubscribe?t=u."), unsub)
        self.assertIn(b"List-Unsubscribe: <" + unsub.encode() + b">\r\n", head)  # as RFC 8058
        when = email.utils.parsedate_to_datetime(m["Date"]).timestamp()
        self.assertLess(abs(when - time.time()), 600)
        self.assertIn(time.strftime("%Y-%m-%d", time.gmtime(when)), m["Subject"])
        self.assertEqual(m.get_content_type(), "multipart/alternative")
        parts = list(m.iter_parts())
        self.assertEqual([p.get_content_type() for p in parts], ["text/plain", "text/html"])
        for p in parts:
            self.assertEqual(p.get_content_charset(), "utf-8")
            self.assertEqual(p["Content-Transfer-Encoding"], "quoted-printable")
        text, page = parts[0].get_content(), parts[1].get_content()
        # Every link goes to the site or to a paper or a source's entry.
        links = Links()
        links.feed(page)
        urls = set(links.hrefs) | {u.rstrip(">.,)") for u in re.findall(r"https?://\S+", text)}
        for u in urls:
            self.assertTrue(u.startswith(self.base) or u in upstream_links(), u)
        self.assertIn(unsub, links.hrefs)
        self.assertIn(unsub, text)
        manage = [u for u in links.hrefs if u.startswith(self.base + "manage?t=m.")]
        self.assertEqual(len(manage), 1, links.hrefs)
        self.assertIn(manage[0], text)
        # Inline styles only, nothing remote, no scripts.
        self.assertFalse({"script", "style", "img", "link", "iframe"} & set(links.tags))
        self.assertNotIn("<script", page)
        need_tool("tidy")
        p = subprocess.run(["tidy", "-e", "-q"], input=page.encode(), capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return m, page, text

    def test_commands_and_dry_run(self):
        write(self.conf, config(self.t, self.up, self.base, 1))
        run("fetch", "-c", self.conf)
        self.tb("subscribe", "a@example.org", "walrus", "trending")
        self.tb("subscribe", "--weekly", "b@Example.ORG", "walrus")
        self.tb("subscribe", "c@example.org", "trending")
        # Unknown topics and bad addresses change nothing.
        p = self.tb("subscribe", "d@example.org", "walrus", "nosuch", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("nosuch", p.stderr)
        p = self.tb("subscribe", "x@example.org\r\nBcc: y@example.org", "walrus", check=False)
        self.assertEqual(p.returncode, 2)
        self.tb("unsubscribe", "c@example.org")
        self.assertNotEqual(self.tb("unsubscribe", "nobody@example.org", check=False).returncode, 0)
        subs = self.subscribers()
        self.assertEqual(sorted(subs), ["a@example.org", "b@example.org", "c@example.org"])
        a, b = subs["a@example.org"], subs["b@example.org"]
        self.assertEqual((a["state"], a["frequency"], a["topics"]),
                         ("active", "daily", ["trending", "walrus"]))
        self.assertEqual((b["state"], b["frequency"], b["topics"]), ("active", "weekly", ["walrus"]))
        self.assertEqual(subs["c@example.org"]["state"], "left")
        for k in ("last_digest", "failures", "last_error"):
            self.assertIn(k, a)
        self.assertEqual(a["last_digest"], "never")
        table = self.tb("subscribers").stdout.decode()
        self.assertIn("b@example.org", table)
        self.assertIn("weekly", table)

        out = self.tb("digest", "--now", "--dry-run")
        msgs = mbox(out.stdout)
        self.assertEqual(len(msgs), 2, out.stderr)
        got = {}
        for raw in msgs:
            rcpt = re.search(rb"^To: ([^\r]*)\r", raw, re.M).group(1).decode()
            got[rcpt] = self.check_message(raw, rcpt)
        self.assertEqual(sorted(got), ["a@example.org", "b@example.org"])
        m, page, text = got["a@example.org"]
        # The subject names the topics by title, encoded where not ASCII.
        self.assertIn(TOPIC_TITLE, m["Subject"])
        self.assertIn(b"=?UTF-8?Q?", msgs[0].partition(b"\r\n\r\n")[0])
        # The daily first digest covers a day: C (three days old) is left out;
        # A, B and D under the topic, each once, by score: A (three groups),
        # B (two), D (Hugging Face only).
        self.assertEqual(page.count("<li"), 3)
        self.assertLess(page.index("arxiv.org/abs/" + A), page.index("arxiv.org/abs/" + B))
        self.assertLess(page.index("arxiv.org/abs/" + B), page.index("papers/" + D))
        self.assertNotIn(C, page)
        self.assertIn(self.base + "topics/walrus.html", page)
        self.assertIn(self.base + "topics/walrus.atom", page)
        self.assertIn("Mentioned by 3 sources", page)
        self.assertIn("Mentioned by 3 sources", text)
        self.assertIn("https://huggingface.co/papers/" + A, page)
        # Upstream text is text: escaped in HTML, never markup.
        self.assertIn("Walrus &lt;script&gt;alert(1)&lt;/script&gt; tusks", page)
        self.assertIn("&lt;b&gt;Eve&lt;/b&gt; &amp; &quot;Mallory&quot;", page)
        self.assertIn(HOSTILE, text)
        # The weekly first digest covers a week: C too.
        _, page, _ = got["b@example.org"]
        self.assertEqual(page.count("<li"), 4)
        self.assertIn("arxiv.org/abs/" + C, page)
        # A dry run changes nothing; --to picks one subscriber.
        self.assertEqual(self.subscribers()["a@example.org"]["covered"], "never")
        msgs = mbox(self.tb("digest", "--now", "--dry-run", "--to", "b@EXAMPLE.org").stdout)
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"\r\nTo: b@example.org\r\n", msgs[0])
        p = self.tb("digest", "--now", "--dry-run", "--to", "z@example.org", check=False)
        self.assertNotEqual(p.returncode, 0)
        # Not due (first slot not reached since the subscription): nothing.
        self.assertEqual(mbox(self.tb("digest", "--dry-run").stdout), [])

    def test_send_then_nothing_new(self):
        need_module("aiosmtpd", "python3-aiosmtpd")
        import smtpd
        self.srv = smtpd.Server().start()
        write(self.conf, config(self.t, self.up, self.base, self.srv.port))
        run("fetch", "-c", self.conf)
        self.tb("subscribe", "a@example.org", "walrus")
        p = self.tb("digest", "--now")
        self.assertIn("1 sent", p.stderr)
        self.assertEqual(len(self.srv.messages), 1)
        frm, to, raw = self.srv.messages[0]
        self.assertEqual((frm, to), ("papers@example.org", ["a@example.org"]))
        self.check_message(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), "a@example.org")
        a = self.subscribers()["a@example.org"]
        self.assertNotEqual(a["last_digest"], "never")
        self.assertNotEqual(a["covered"], "never")
        # Nothing new since: no message, printed or sent.
        self.assertEqual(mbox(self.tb("digest", "--now", "--dry-run").stdout), [])
        time.sleep(1.1)
        p = self.tb("digest", "--now")
        self.assertIn("0 queued, 0 sent", p.stderr)
        self.assertEqual(len(self.srv.messages), 1)
        # A new paper, and a server that is gone: queued, not sent, exit non-zero.
        later = [("2501.00009", "A later walrus paper")]
        time.sleep(1.1)
        for name, text in files(self.now, later, int(time.time())).items():
            write(os.path.join(self.www, name), text)
        run("fetch", "-c", self.conf)
        self.srv.stop()
        self.srv = None
        time.sleep(1.1)
        p = self.tb("digest", "--now", check=False)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("1 queued", p.stderr)

    def test_without_mail(self):
        write(self.conf, config(self.t, self.up, self.base, 1, mail=False))
        for args in (("subscribers",), ("subscribe", "a@example.org", "walrus"),
                     ("unsubscribe", "a@example.org"), ("digest", "--now")):
            p = self.tb(*args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("[mail]", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.t, "t.db.secret")))


if __name__ == "__main__":
    main()
