"""What the mail end-to-end tests share: an upstream of trending papers on
loopback, a config with [mail] pointing at a test's SMTP server,
subscribers added with `tributary subscribe`, and reading the outbox."""
import email.utils
import json
import os
import signal
import sqlite3
import time

from tbtest import Daemon, Upstream, free_port, need_module, run


def _rfc822(t):
    return email.utils.formatdate(t, usegmt=True)


def _item(pid, title, t):
    return f"""<item><title>{title}</title><link>https://arxiv.org/abs/{pid}</link>
<description>arXiv:{pid}v1 Announce Type: new Abstract: {title} about walruses.</description>
<guid isPermaLink="false">oai:arXiv.org:{pid}v1</guid><pubDate>{_rfc822(t)}</pubDate></item>"""


def last_midnight():
    """The latest 00:00 UTC: the send slot of the tests' daily digests."""
    return int(time.time()) // 86400 * 86400


def write_papers(www, papers, t=None):
    """Two arXiv listings (one group) carrying `papers` [(id, title)] dated t,
    by default an hour before the latest send slot (00:00 UTC), so that the
    digest due at that slot carries them; but never more than 22 hours ago:
    a first daily digest covers the last 24 hours, so from 23:00 UTC on
    papers dated 23:00 yesterday would be too old for it."""
    now = int(time.time())
    t = t if t is not None else max(last_midnight() - 3600, now - 22 * 3600)
    items = "".join(_item(pid, title, t) for pid, title in papers)
    for cat in ("cl", "lg"):
        with open(os.path.join(www, f"{cat}.rss"), "w", encoding="utf-8") as f:
            f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>cs.{cat.upper()} updates on arXiv.org</title>
<link>http://rss.arxiv.org/rss/cs.{cat.upper()}</link><description>{cat}</description>
{items}</channel></rss>""")


PAPERS = [("2501.00001", "Walrus tusks as sensors"), ("2501.00002", "Counting walruses by radar")]


class Site:
    """A temp dir with an upstream of papers and a config whose [mail]
    sends to smtp_url; `fetch` stores the papers."""

    def __init__(self, t, smtp_url, mail_extra="", papers=PAPERS, date=None):
        self.t = t
        self.www = os.path.join(t, "www")
        os.makedirs(self.www, exist_ok=True)
        write_papers(self.www, papers, date)
        self.up = Upstream(self.www, os.path.join(t, "up.log"))
        self.port = free_port()
        self.db = os.path.join(t, "t.db")
        self.config = os.path.join(t, "t.ini")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(f"""[tributary]
database = {self.db}
public_dir = {os.path.join(t, "pub")}
listen = 127.0.0.1:{self.port}
base_url = http://127.0.0.1:{self.port}/

[trending]
resolve_arxiv = no

[source arxiv-cs-cl]
url = {self.up.base}cl.rss
group = arxiv

[source arxiv-cs-lg]
url = {self.up.base}lg.rss
group = arxiv

[topic walrus]
title = Walrus papers
query = walruses

[mail]
smtp = {smtp_url}
from = tributary <papers@example.org>
{"" if "send_at" in mail_extra else "send_at = 00:00"}
{mail_extra}
""")
        run("fetch", "-c", self.config)

    def subscribe(self, addrs, topics=("trending",)):
        for a in addrs:
            run("subscribe", "-c", self.config, a, *topics)

    def make_due(self):
        """As if every subscription had been confirmed three days ago: the
        latest send slot comes after it, so its first digest is due now."""
        with sqlite3.connect(self.db, timeout=30) as c:
            c.execute("UPDATE subscriptions SET created = created - 259200,"
                      " confirmed = confirmed - 259200")

    def outbox(self):
        """{state: count} of the outbox (0 pending, 1 sent, 2 failed, 3 dropped)."""
        with sqlite3.connect(self.db, timeout=30) as c:
            return dict(c.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())

    def stop(self):
        self.up.stop()
        self.up.proc.stdout.close()


def standin(**kw):
    """A started tests/smtpd.py Server(**kw); skipped (failed under CI) without aiosmtpd."""
    need_module("aiosmtpd", "python3-aiosmtpd")
    import smtpd
    return smtpd.Server(**kw).start()


def addrs(n):
    """n subscriber addresses."""
    return [f"reader{i}@example.org" for i in range(n)]


def serve(test, site, log):
    """`tributary serve` on the site's config, killed at the end of the test if still running."""
    d = Daemon(site.config, log)
    test.addCleanup(lambda: d.alive() and d.stop(signal.SIGKILL))
    return d


def subscriber(site, addr):
    """The entry of `tributary subscribers --json` for addr, or None."""
    for s in json.loads(run("subscribers", "-c", site.config, "--json").stdout):
        if s.get("address", s.get("addr")) == addr:
            return s
    return None
