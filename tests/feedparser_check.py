"""Reads a published feed the way subscribers do and compares it with the
expectations in a JSON file.

usage: feedparser_check.py atom|rss|json FEED EXPECTED.json

Atom and RSS go through feedparser (Debian's python3-feedparser). Its 6.0
series cannot read JSON Feed, so JSON Feed 1.1 is read with the json module
and its required fields are checked by hand. Exit status 0 when everything
expected survived, 1 with one line per difference otherwise.
"""
import calendar
import json
import sys
import time


def iso(parsed):
    """A time.struct_time (UTC) as RFC 3339, or None."""
    if parsed is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(parsed)))


def read_xml(path):
    import feedparser

    d = feedparser.parse(path)
    if d.bozo:
        raise SystemExit("%s: not well-formed: %s" % (path, d.bozo_exception))
    self_links = [l.href for l in d.feed.get("links", []) if l.get("rel") == "self"]
    feed = {"title": d.feed.get("title"), "link": d.feed.get("link"),
            "self": self_links[0] if self_links else None}
    entries = []
    for e in d.entries:
        bodies = [c.value for c in e.get("content", [])] + [e.get("summary") or ""]
        entries.append({
            "id": e.get("id"), "title": e.get("title"), "link": e.get("link"),
            "published": iso(e.get("published_parsed")),
            "updated": iso(e.get("updated_parsed")),
            "authors": [a.get("name") for a in e.get("authors", []) if a],
            "tags": [t.term for t in e.get("tags", [])],
            "enclosures": [l.href for l in e.get("enclosures", [])],
            "content": "\n".join(bodies)})
    return feed, entries


def read_json(path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    errors = []
    if d.get("version") != "https://jsonfeed.org/version/1.1":
        errors.append("version is %r" % d.get("version"))
    feed = {"title": d.get("title"), "link": d.get("home_page_url"), "self": d.get("feed_url")}
    entries = []
    for it in d.get("items", []):
        if "content_html" not in it and "content_text" not in it:
            errors.append("item %r has no content" % it.get("id"))
        entries.append({
            "id": it.get("id"), "title": it.get("title"), "link": it.get("url"),
            "published": it.get("date_published"), "updated": it.get("date_modified"),
            "authors": [a.get("name") for a in it.get("authors", [])],
            "tags": it.get("tags", []),
            "enclosures": [a["url"] for a in it.get("attachments", [])],
            "content": "\n".join(it.get(k, "") for k in ("content_html", "content_text", "summary"))})
    return feed, entries, errors


def compare(fmt, feed, entries, want):
    errors = []
    for key, value in want["feed"].items():
        if feed.get(key) != value:
            errors.append("feed %s: got %r, want %r" % (key, feed.get(key), value))
    if len(entries) != len(want["entries"]):
        errors.append("%d entries, want %d" % (len(entries), len(want["entries"])))
    for got, exp in zip(entries, want["entries"]):
        for key, value in exp.items():
            if key == "updated" and fmt == "rss":
                continue  # RSS 2.0 has no per-item modification date
            if key == "content":
                ok = all(s in got["content"] for s in value.get(fmt, value.get("all", [])))
            else:
                ok = got.get(key) == value
            if not ok:
                errors.append("entry %r %s: got %r, want %r"
                              % (exp["id"], key, str(got.get(key))[:200], value))
    return errors


def main():
    fmt, path, expected = sys.argv[1:4]
    with open(expected, encoding="utf-8") as f:
        want = json.load(f)
    errors = []
    if fmt == "json":
        feed, entries, errors = read_json(path)
    else:
        feed, entries = read_xml(path)
    errors += compare(fmt, feed, entries, want)
    for e in errors:
        print("%s %s: %s" % (fmt, path, e), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
