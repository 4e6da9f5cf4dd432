"""Crash safety: SIGKILL `tributary serve` at random moments during heavy
ingest and publishing (30 times), restart it each time, and check that no
stored entry is ever lost or duplicated, that every published file is a
complete, valid document, and that the database passes integrity_check.
Then fill the disk (a small tmpfs) under the database and the published
files: a clear error, nothing half-written, recovery when space returns."""
import glob
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import unittest
import xml.dom.minidom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tbtest  # noqa: E402
from tbtest import Daemon, TempDir, Upstream, free_port, http_get, run, wait_for

KILLS = 30
SOURCES = 12
WINDOW = 60  # items per feed document; older items scroll out


def item(src, n):
    return (f"<item><title>Paper {n} about attention from source {src}</title>"
            f"<link>https://papers.example.org/s{src}/{n}</link>"
            f"<guid>https://papers.example.org/s{src}/{n}</guid>"
            f"<description>Abstract {n}: long-context attention and entity linking, "
            f"{'retrieval augmentation ' * 20}</description>"
            f"<pubDate>{time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(1.7e9 + n * 60))}"
            f"</pubDate></item>")


def write_generation(root, gen):
    """Each generation adds 25 items per source; a feed shows the newest WINDOW."""
    newest = (gen + 1) * 25
    for s in range(SOURCES):
        # One source shares papers with source 0 under other links: cross-source dedupe.
        items = "".join(item(s, n) for n in range(max(0, newest - WINDOW), newest))
        tmp = os.path.join(root, f".s{s}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Source {s}'
                    f"</title><link>https://papers.example.org/s{s}</link>{items}</channel></rss>")
        os.replace(tmp, os.path.join(root, f"s{s}.rss"))
    return newest


def stored_ids(db):
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute("SELECT out_id FROM entries").fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()


def stored_soon(db):
    """stored_ids(), or [] while the daemon has not yet created the database
    or its schema (the file exists, empty, until the first commit; a daemon
    killed before it leaves it so). Anything lost after that shows up as
    entries missing from a list that had them."""
    try:
        return stored_ids(db) if os.path.exists(db) else []
    except sqlite3.OperationalError:
        return []


def integrity(db):
    """"ok", or what PRAGMA integrity_check or foreign_key_check (the store
    declares foreign keys but does not enforce them) found."""
    con = sqlite3.connect(db, timeout=10)
    try:
        bad = con.execute("PRAGMA foreign_key_check").fetchall()
        return con.execute("PRAGMA integrity_check").fetchone()[0] if not bad else repr(bad[:5])
    finally:
        con.close()


def check_published(testcase, public):
    """Every published document parses completely; no half-written file is visible."""
    count = 0
    for path in glob.glob(os.path.join(public, "**", "*"), recursive=True):
        name = os.path.basename(path)
        if not os.path.isfile(path) or name.startswith("."):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if name.endswith(".gz"):
            import gzip
            data = gzip.decompress(data)
            name = name[:-3]
        if name.endswith((".atom", ".rss", ".opml")):
            xml.dom.minidom.parseString(data)
        elif name.endswith(".json"):
            json.loads(data)
        elif name.endswith(".html"):
            testcase.assertIn(b"</html>", data)
        count += 1
    return count


def published_newest(public, newest):
    """Whether public/all.atom holds every source's newest item (n = newest - 1,
    all of the same date, so all among the feed's newest)."""
    try:
        with open(os.path.join(public, "all.atom"), "rb") as f:
            data = f.read()
    except OSError:
        return False
    return all(f'papers.example.org/s{s}/{newest - 1}"'.encode() in data for s in range(SOURCES))


def config(t, up, port, db, public, interval="1s"):
    path = os.path.join(t, "t.ini")
    lines = ["[tributary]", f"database = {db}", f"public_dir = {public}",
             f"listen = 127.0.0.1:{port}", f"base_url = http://127.0.0.1:{port}/",
             f"interval = {interval}", "feed_limit = 40", ""]
    for s in range(SOURCES):
        lines += [f"[source s{s}]", f"url = {up.base}s{s}.rss", ""]
    lines += ["[topic attention]", "query = attention", "",
              "[topic linking]", 'query = "entity linking"', ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


class CrashSafety(unittest.TestCase):
    def test_sigkill_during_ingest(self):
        rnd = random.Random(int(os.environ.get("TB_CRASH_SEED", "7")))
        with TempDir() as t:
            root = os.path.join(t, "root")
            os.mkdir(root)
            up = Upstream(root, os.path.join(t, "upstream.log"))
            db, public = os.path.join(t, "t.db"), os.path.join(t, "public")
            port = free_port()
            conf = config(t, up, port, db, public)
            seen = set()
            newest = 0
            try:
                for gen in range(KILLS):
                    newest = write_generation(root, gen)
                    d = Daemon(conf, os.path.join(t, "daemon.log"))
                    time.sleep(rnd.uniform(0.05, 2.5))
                    d.stop(9)
                    ids = stored_soon(db)
                    self.assertEqual(len(ids), len(set(ids)), f"duplicates after kill {gen}")
                    lost = seen - set(ids)
                    self.assertFalse(lost, f"kill {gen} lost stored entries: {sorted(lost)[:5]}")
                    seen = set(ids)
                    check_published(self, public)
                # A last clean run stores everything the feeds still show.
                d = Daemon(conf, os.path.join(t, "daemon.log"))
                expected = {f"https://papers.example.org/s{s}/{n}" for s in range(SOURCES)
                            for n in range(newest - WINDOW, newest)}
                wait_for(lambda: expected <= set(stored_ids(db)), 60,
                         what="every entry still in the feeds stored")
                wait_for(lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 60)
                # One debounced publish after the last ingest: polled, not slept for.
                wait_for(lambda: published_newest(public, newest), 60,
                         what="every source's newest entry in the published all.atom")
                self.assertEqual(d.stop(), 0, d.log_text()[-2000:])
            finally:
                up.stop()
            ids = stored_ids(db)
            self.assertEqual(len(ids), len(set(ids)))
            self.assertTrue(seen <= set(ids))
            self.assertEqual(integrity(db), "ok")
            self.assertGreater(check_published(self, public), 10)
            leftovers = [p for p in glob.glob(os.path.join(public, "**", ".*"), recursive=True)]
            self.assertEqual(leftovers, [], "temporary files left in public_dir")
            status = run("sources", "-c", conf, "--json").stdout
            self.assertTrue(all(s["entries"] > 0 for s in json.loads(status)))


class DiskFull(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            tbtest.missing("root (to mount a small tmpfs)")

    def test_disk_full_then_recovery(self):
        with TempDir() as t:
            mnt = os.path.join(t, "small")
            os.mkdir(mnt)
            if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", mnt]).returncode:
                tbtest.missing("a tmpfs mount (mount -t tmpfs failed)")
            try:
                self.run_disk_full(t, mnt)
            finally:
                subprocess.run(["umount", "-l", mnt])

    def run_disk_full(self, t, mnt):
        root = os.path.join(t, "root")
        os.mkdir(root)
        up = Upstream(root, os.path.join(t, "upstream.log"))
        db, public = os.path.join(mnt, "t.db"), os.path.join(mnt, "public")
        port = free_port()
        conf = config(t, up, port, db, public)
        write_generation(root, 0)
        d = Daemon(conf, os.path.join(t, "daemon.log"))
        try:
            try:
                wait_for(lambda: len(stored_soon(db)) > 0, 60, what="first entries stored")
            except AssertionError:
                print(subprocess.run(["df", "-k", mnt], capture_output=True, text=True).stdout,
                      subprocess.run(["du", "-ak", mnt], capture_output=True, text=True).stdout,
                      d.log_text()[-3000:], file=sys.stderr)
                raise
            # Much more than fits: the disk fills while storing and publishing.
            for gen in range(1, 12):
                write_generation(root, gen)
            wait_for(lambda: "No space left" in d.log_text() or "full" in d.log_text(), 60,
                     what="a disk-full error in the log")
            self.assertTrue(d.alive(), "the daemon survives a full disk")
            check_published(self, public)
            before = len(stored_ids(db))
            subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
            newest = write_generation(root, 12)
            expected = {f"https://papers.example.org/s{s}/{n}" for s in range(SOURCES)
                        for n in range(newest - WINDOW, newest)}
            wait_for(lambda: expected <= set(stored_ids(db)), 60,
                     what="recovery after space returns")
            self.assertGreater(len(stored_ids(db)), before)
            wait_for(lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 60,
                     what="healthy again")
            self.assertEqual(d.stop(), 0)
        finally:
            if d.alive():
                d.stop(9)
            up.stop()
        self.assertEqual(integrity(db), "ok")
        check_published(self, public)
        ids = stored_ids(db)
        self.assertEqual(len(ids), len(set(ids)))


if __name__ == "__main__":
    tbtest.main()
