"""Shared helpers for tributary's end-to-end tests (run with /usr/bin/python3)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BIN = os.environ.get("TB_BIN", os.path.join(os.path.dirname(__file__), "..", "build", "tributary"))
FIXTURES = os.environ.get("TB_FIXTURES", os.path.join(os.path.dirname(__file__), "fixtures"))
SHARED = os.environ.get("TB_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
SOURCE_DIR = os.environ.get("TB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
ATOM_RNC = os.path.join(SHARED, "atom.rnc")


def run(*args, stdin=None, check=True, timeout=120):
    """Runs tributary with args; returns CompletedProcess (bytes stdout, text stderr)."""
    p = subprocess.run([BIN, *args], input=stdin, capture_output=True, timeout=timeout)
    p.stderr = p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError(f"tributary {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def have_schema():
    return os.path.exists(ATOM_RNC)


def jing_errors(data):
    """Validates an Atom document against RFC 4287's schema; returns jing's complaints
    ("" when valid). Raises unittest.SkipTest when the schema file is absent."""
    if not have_schema():
        raise unittest.SkipTest(f"{ATOM_RNC} absent: Atom schema validation skipped")
    with tempfile.NamedTemporaryFile(suffix=".atom") as f:
        f.write(data)
        f.flush()
        # jing reports problems on stdout; its wrapper's jar warnings go to stderr.
        p = subprocess.run(["jing", "-c", ATOM_RNC, f.name], capture_output=True, text=True)
    if p.returncode != 0:
        return p.stdout.strip() or f"jing exited {p.returncode}: {p.stderr.strip()}"
    return ""


def feedparse(data):
    import feedparser  # Debian's python3-feedparser
    return feedparser.parse(data)


def mask_feed_updated(data):
    """Blanks the feed-level <updated> (the only part allowed to differ between runs)."""
    text = data.decode("utf-8")
    return re.sub(r"(<feed[^>]*>.*?<updated>)[^<]*(</updated>)", r"\1MASKED\2", text,
                  count=1, flags=re.S)


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="tb-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
