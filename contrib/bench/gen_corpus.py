#!/usr/bin/python3
"""Generate a deterministic feed corpus for the tributary merge benchmark.

Python 3 standard library only. Titles and abstracts are recombined from a
listing of real papers (shared/seed-papers.txt: a title line, an abstract
line, a blank line each), so the text looks like what arXiv and lab feeds
carry. Each feed is one file in one of four formats; a share of the entries
are cross-feed duplicates: the same paper (same arXiv id, title, abstract)
published again by another feed with a different link spelling and guid.

Writes FEED files plus manifest.json into --out. The manifest lists, per file,
its format, size, entry count and the paper key of every entry, so a caller
can compute the expected number of unique papers for any subset of files.
"""

import argparse
import datetime as dt
import json
import os
import random
import re
import sys
from xml.sax.saxutils import escape, quoteattr

FIRST_NAMES = [
    "Wei", "Yuki", "Aisha", "José", "Zoë", "Søren", "Łukasz", "Priya", "Chen",
    "Olga", "Mateo", "Fatima", "Hiroshi", "Amélie", "Kwame", "Ingrid", "Ravi",
    "Mei", "Tomás", "Nadia", "Jonas", "Hyun-woo", "Elena", "Omar", "Sara",
    "Dmitri", "Ananya", "Lucas", "Noor", "Gabriel", "Xin", "Bilal", "Chiara",
]
LAST_NAMES = [
    "Zhang", "Wang", "Li", "Tanaka", "Müller", "García", "Dvořák", "Nguyễn",
    "Kowalski", "Okafor", "Sharma", "Johansson", "Rossi", "Kim", "Çelik",
    "Ivanova", "Dubois", "Silva", "Haddad", "O'Brien", "Novak", "Schmidt",
    "Patel", "Suzuki", "Andersen", "Moreau", "Hernández", "Liu", "Chen",
    "Brown", "Fischer", "Yilmaz", "Bianchi", "Park", "Mensah", "Kaur",
]
CATEGORIES = ["cs.CL", "cs.CV", "cs.LG", "cs.AI", "cs.IR", "stat.ML", "cs.MM", "cs.DL"]
SUFFIXES = [
    "", "", "", " at Scale", " for Low-Resource Languages", " via Contrastive Pretraining",
    " with Retrieval Augmentation", " in the Wild", " under Distribution Shift",
    " for Scientific Documents", " Revisited", " without Labels",
]
NAME_PARTS = ["Long", "Trans", "Ent", "Sparse", "Retro", "Lumen", "Graph", "Tidal",
              "Multi", "Meta", "Hyper", "Flash", "Deep", "Ref", "Link", "Span"]
NAME_TAILS = ["Former", "Net", "Link", "BERT", "Mem", "Attn", "Rank", "Gen", "ER", "Head"]
FEED_KINDS = [
    ("arxiv", "{cat} updates on arXiv.org", "https://arxiv.org/list/{cat}/new"),
    ("lab", "{lab} Lab reading list", "https://{host}/reading-list/"),
    ("aggregator", "{lab} paper digest", "https://{host}/digest/"),
]
LABS = ["Tidewater NLP", "Northfield ML", "Lakeside Vision", "Granite IR", "Harbor AI",
        "Cedar Language", "Summit Learning", "Riverbend Data", "Aurora Speech"]
FORMATS = ("rss20", "atom10", "rss10", "json11")
EXT = {"rss20": "rss", "atom10": "atom", "rss10": "rdf", "json11": "json"}
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def load_seed(path):
    """Return (titles, openers, sentences) from a seed-papers listing."""
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if not ln.startswith("#")]
    blocks = [b for b in "\n".join(lines).split("\n\n") if b.strip()]
    titles, openers, sentences = [], [], []
    for block in blocks:
        parts = block.strip().split("\n", 1)
        if len(parts) != 2:
            continue
        titles.append(parts[0].strip())
        sents = re.split(r"(?<=[.!?])\s+(?=[A-Z])", parts[1].strip())
        openers.append(sents[0])
        sentences.extend(sents[1:])
    if len(titles) < 2 or not sentences:
        raise ValueError(f"{path}: need at least 2 papers with multi-sentence abstracts")
    return titles, openers, sentences


class Papers:
    """Makes unique, realistic papers from the seed material."""

    def __init__(self, rng, seed):
        self.rng = rng
        self.titles, self.openers, self.sentences = seed
        self.tails = [t.split(": ", 1)[-1] for t in self.titles]
        self.seen_titles = set()
        self.month_seq = {}

    def _title(self):
        rng = self.rng
        for attempt in range(20):
            tail = rng.choice(self.tails) + rng.choice(SUFFIXES)
            if rng.random() < 0.5:
                name = rng.choice(NAME_PARTS) + rng.choice(NAME_TAILS)
                if rng.random() < 0.3:
                    name += str(rng.randint(2, 9))
                tail = f"{name}: {tail}"
            if attempt >= 10:
                tail += f" ({rng.choice(['Extended', 'Short', 'Technical Report'])} {attempt})"
            if tail not in self.seen_titles:
                self.seen_titles.add(tail)
                return tail
        return tail

    def _abstract(self):
        rng = self.rng
        body = rng.sample(self.sentences, rng.randint(3, 7))
        text = " ".join([rng.choice(self.openers)] + body)
        # Vary the figures so that abstracts differ even when sentences repeat.
        return re.sub(r"\d+(\.\d+)?%", lambda m: f"{rng.uniform(1, 99):.1f}%", text)

    def new(self, key):
        rng = self.rng
        when = EPOCH + dt.timedelta(seconds=rng.randrange(540 * 86400))
        month = when.strftime("%y%m")
        seq = self.month_seq.get(month, 0) + 1
        self.month_seq[month] = seq
        cats = [rng.choice(CATEGORIES)]
        cats += [c for c in rng.sample(CATEGORIES, rng.randint(0, 2)) if c not in cats]
        authors = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                   for _ in range(rng.randint(1, 7))]
        return {"key": key, "arxiv": f"{month}.{seq:05d}", "version": rng.choice([1, 1, 1, 2, 3]),
                "title": self._title(), "abstract": self._abstract(), "authors": authors,
                "categories": cats, "date": when}


def spell(rng, paper, feed_kind, duplicate):
    """Return (link, guid) for one appearance of a paper in a feed.

    The first appearance uses the spelling its feed kind uses; a duplicate
    always gets a different guid and one or more link variations that a
    canonicalizer must undo: utm_ parameters, http vs https, another
    version suffix, host case, a fragment.
    """
    aid, ver = paper["arxiv"], paper["version"]
    scheme, host, path, query, frag = "https", "arxiv.org", f"/abs/{aid}", "", ""
    if feed_kind == "aggregator":
        path += f"v{ver}"
    if duplicate:
        tweaks = rng.sample(["utm", "http", "version", "host", "fragment"], rng.randint(1, 3))
        if "utm" in tweaks:
            query = f"?utm_source={rng.choice(['rss', 'feed', 'newsletter'])}&utm_medium=feed"
        if "http" in tweaks:
            scheme = "http"
        if "version" in tweaks:
            path = f"/abs/{aid}v{ver + 1}"
        if "host" in tweaks:
            host = rng.choice(["arXiv.org", "ARXIV.ORG", "arxiv.org:443"])
        if "fragment" in tweaks:
            frag = "#abstract"
    link = f"{scheme}://{host}{path}{query}{frag}"
    if duplicate:
        guid = rng.choice([f"urn:uuid:{rng.getrandbits(128):032x}",
                           f"tag:{feed_kind}.example,2024:{aid}", f"https://papers.example.org/p/{aid}"])
    elif feed_kind == "arxiv":
        guid = f"oai:arXiv.org:{aid}v{ver}"
    else:
        guid = link
    return link, guid


def item_html(paper, feed_kind, aid_ver):
    """Entry body as HTML: arXiv listing style or a blog-style paragraph."""
    abstract = escape(paper["abstract"])
    if feed_kind == "arxiv":
        return f"<p>arXiv:{aid_ver} Announce Type: new</p><p>Abstract: {abstract}</p>"
    return f"<p>{abstract}</p><p>Authors: {escape(', '.join(paper['authors']))}</p>"


def rfc822(when):
    return when.strftime("%a, %d %b %Y %H:%M:%S +0000")


def rfc3339(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_rss20(feed, items):
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">',
           f'<channel><title>{escape(feed["title"])}</title><link>{escape(feed["link"])}</link>',
           f'<description>{escape(feed["title"])}</description><language>en-us</language>',
           f'<atom:link href={quoteattr(feed["self"])} rel="self" type="application/rss+xml"/>',
           f'<lastBuildDate>{rfc822(feed["updated"])}</lastBuildDate>']
    for it in items:
        p = it["paper"]
        cats = "".join(f"<category>{c}</category>" for c in p["categories"])
        out.append(f'<item><title>{escape(p["title"])}</title><link>{escape(it["link"])}</link>'
                   f'<description>{escape(it["html"])}</description>'
                   f'<guid isPermaLink="false">{escape(it["guid"])}</guid>{cats}'
                   f'<dc:creator>{escape(", ".join(p["authors"]))}</dc:creator>'
                   f'<pubDate>{rfc822(it["date"])}</pubDate></item>')
    out.append("</channel></rss>\n")
    return "\n".join(out)


def write_atom10(feed, items):
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
           f'<id>{escape(feed["self"])}</id><title>{escape(feed["title"])}</title>',
           f'<updated>{rfc3339(feed["updated"])}</updated>',
           f'<link rel="self" href={quoteattr(feed["self"])}/><link href={quoteattr(feed["link"])}/>']
    for it in items:
        p = it["paper"]
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in p["authors"])
        cats = "".join(f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>'
                       for c in p["categories"])
        out.append(f'<entry><id>{escape(it["guid"])}</id><title>{escape(p["title"])}</title>'
                   f'<link rel="alternate" type="text/html" href={quoteattr(it["link"])}/>'
                   f'<published>{rfc3339(it["date"])}</published>'
                   f'<updated>{rfc3339(it["date"])}</updated>{authors}{cats}'
                   f'<summary type="html">{escape(it["html"])}</summary></entry>')
    out.append("</feed>\n")
    return "\n".join(out)


def write_rss10(feed, items):
    seq = "".join(f"<rdf:li rdf:resource={quoteattr(it['guid'])}/>" for it in items)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF '
           'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">',
           f'<channel rdf:about={quoteattr(feed["self"])}><title>{escape(feed["title"])}</title>',
           f'<link>{escape(feed["link"])}</link><description>{escape(feed["title"])}</description>',
           f'<dc:date>{rfc3339(feed["updated"])}</dc:date><items><rdf:Seq>{seq}</rdf:Seq></items>'
           '</channel>']
    for it in items:
        p = it["paper"]
        subjects = "".join(f"<dc:subject>{c}</dc:subject>" for c in p["categories"])
        creators = "".join(f"<dc:creator>{escape(a)}</dc:creator>" for a in p["authors"])
        out.append(f'<item rdf:about={quoteattr(it["guid"])}><title>{escape(p["title"])}</title>'
                   f'<link>{escape(it["link"])}</link>'
                   f'<description>{escape(it["html"])}</description>{creators}{subjects}'
                   f'<dc:date>{rfc3339(it["date"])}</dc:date></item>')
    out.append("</rdf:RDF>\n")
    return "\n".join(out)


def write_json11(feed, items):
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": feed["title"],
           "home_page_url": feed["link"], "feed_url": feed["self"], "items": []}
    for it in items:
        p = it["paper"]
        doc["items"].append({"id": it["guid"], "url": it["link"], "title": p["title"],
                             "content_html": it["html"], "date_published": rfc3339(it["date"]),
                             "authors": [{"name": a} for a in p["authors"]],
                             "tags": p["categories"]})
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


WRITERS = {"rss20": write_rss20, "atom10": write_atom10, "rss10": write_rss10,
           "json11": write_json11}


def split_formats(rng, nfeeds, json_share):
    """Exact per-format counts (largest remainder), shuffled into feed order."""
    njson = round(nfeeds * json_share)
    weights = {"rss20": 50, "atom10": 30, "rss10": 15}
    rest = nfeeds - njson
    total = sum(weights.values())
    counts = {f: rest * w // total for f, w in weights.items()}
    by_remainder = sorted(weights, key=lambda f: -(rest * weights[f] % total))
    for f in by_remainder[:rest - sum(counts.values())]:
        counts[f] += 1
    counts["json11"] = njson
    order = [f for f in FORMATS for _ in range(counts[f])]
    rng.shuffle(order)
    return order


def make_feeds(rng, nfeeds, json_share):
    feeds = []
    for i, fmt in enumerate(split_formats(rng, nfeeds, json_share)):
        kind, title, link = rng.choice(FEED_KINDS)
        lab = rng.choice(LABS)
        host = re.sub(r"[^a-z]", "", lab.lower()) + ".example.org"
        cat = rng.choice(CATEGORIES)
        name = f"feed{i:04d}.{EXT[fmt]}"
        feeds.append({"name": name, "format": fmt, "kind": kind,
                      "title": title.format(cat=cat, lab=lab) + f" #{i}",
                      "link": link.format(cat=cat, host=host),
                      "self": f"https://{host}/feeds/{name}", "items": []})
    return feeds


def assign_papers(rng, feeds, nentries, dup_share, papers):
    """Fill every feed with nentries appearances; return the unique count.

    Slots are first filled with new papers (each with a home feed); then a
    dup_share of all slots are turned into copies of a paper from another
    feed, never twice in the same feed.
    """
    nslots = len(feeds) * nentries
    ndup = round(nslots * dup_share) if len(feeds) > 1 else 0
    dup_slots = set(rng.sample(range(nslots), ndup))
    # Each paper remembers its home feed; copies elsewhere are the duplicates.
    originals, in_feed = [], [set() for _ in feeds]
    for s in range(nslots):
        if s not in dup_slots:
            f = s // nentries
            p = papers.new(len(originals))
            p["home"] = f
            originals.append((f, p))
            in_feed[f].add(p["key"])
            feeds[f]["items"].append((p, False))
    for s in sorted(dup_slots):
        f = s // nentries
        p = pick_copy(rng, originals, f, in_feed[f])
        if p is None:
            # No paper of another feed is left for this one: publish a new one.
            p = papers.new(len(originals))
            p["home"] = f
            originals.append((f, p))
        in_feed[f].add(p["key"])
        feeds[f]["items"].append((p, p["home"] != f))
    return len(originals)


def pick_copy(rng, originals, feed, taken):
    """A random paper first published by another feed and not yet in this one."""
    for _ in range(50):
        home, p = rng.choice(originals)
        if home != feed and p["key"] not in taken:
            return p
    left = [p for home, p in originals if home != feed and p["key"] not in taken]
    return rng.choice(left) if left else None


def render(rng, feed):
    """Turn a feed's (paper, duplicate) pairs into dated, spelled items, newest first."""
    items = []
    for p, dup in feed["items"]:
        link, guid = spell(rng, p, feed["kind"], dup)
        date = p["date"] + dt.timedelta(hours=rng.randint(1, 72) if dup else 0)
        html = item_html(p, feed["kind"], f'{p["arxiv"]}v{p["version"]}')
        items.append({"paper": p, "link": link, "guid": guid, "date": date, "html": html})
    items.sort(key=lambda it: it["date"], reverse=True)
    feed["updated"] = items[0]["date"] if items else EPOCH
    return items


def generate(args):
    rng = random.Random(args.seed)
    papers = Papers(rng, load_seed(args.seed_papers))
    feeds = make_feeds(rng, args.feeds, args.json_share)
    unique = assign_papers(rng, feeds, args.entries, args.dup_share, papers)
    os.makedirs(args.out, exist_ok=True)
    files = []
    for feed in feeds:
        items = render(rng, feed)
        data = WRITERS[feed["format"]](feed, items).encode("utf-8")
        with open(os.path.join(args.out, feed["name"]), "wb") as f:
            f.write(data)
        files.append({"name": feed["name"], "format": feed["format"], "bytes": len(data),
                      "entries": len(items), "papers": [it["paper"]["key"] for it in items]})
    manifest = {"seed": args.seed, "feeds": args.feeds, "entries_per_feed": args.entries,
                "dup_share": args.dup_share, "json_share": args.json_share,
                "total_entries": sum(f["entries"] for f in files), "unique_papers": unique,
                "total_bytes": sum(f["bytes"] for f in files), "files": files}
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    return manifest


def share(text):
    v = float(text)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return v


def dup_share(text):
    v = share(text)
    if v > 0.5:
        raise argparse.ArgumentTypeError("must be in [0, 0.5]")
    return v


def positive(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def main(argv=None):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory to write the feeds into")
    ap.add_argument("--feeds", type=positive, default=200, help="number of feeds (200)")
    ap.add_argument("--entries", type=positive, default=100, help="entries per feed (100)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (1)")
    ap.add_argument("--dup-share", type=dup_share, default=0.2,
                    help="share of entries that are cross-feed duplicates (0.2)")
    ap.add_argument("--json-share", type=share, default=0.0,
                    help="share of feeds written as JSON Feed 1.1 (0: XML formats only)")
    ap.add_argument("--seed-papers", default=os.path.join(repo, "tests", "fixtures", "seed-papers.txt"),
                    help="title/abstract listing to draw text from")
    args = ap.parse_args(argv)
    try:
        m = generate(args)
    except (OSError, ValueError) as e:
        print(f"gen_corpus: {e}", file=sys.stderr)
        return 1
    print(f"{len(m['files'])} feeds, {m['total_entries']} entries, {m['unique_papers']} unique "
          f"papers, {m['total_bytes'] / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
