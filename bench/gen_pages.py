#!/usr/bin/env python3
"""Generate deterministic ~30 KB news-article pages for the palimpsest benchmark.

Python standard library only. The output is a pure function of the arguments:
running the generator again with the same arguments rewrites nothing, and a
page file is replaced (atomically, via rename) only when its bytes differ, so
mtimes -- and therefore nginx's ETag/Last-Modified -- change only for pages
whose content changed.

States are described cumulatively, never relative to "what is on disk":

    gen_pages.py --out D --count N --variant base
        every page in its base form (pass 1)
    gen_pages.py --out D --count N --edit-fraction 0.1 --edit-seed 1
        base + edit layer 1: one article sentence rewritten in exactly 10% of
        the pages; all other pages byte-identical to base (pass 2a)
    gen_pages.py --out D --count N --edit-fraction 0.1 --edit-seed 1 --edit-seed 2
        base + layers 1 and 2: compared with the previous state exactly the
        pages chosen by layer 2 differ (pass 2b)
    ... --edit-seed 1 --edit-seed 2 --rotate-boilerplate
        same article text, but every page's "Related" block and "More
        Articles" sidebar show other links and teasers (pass 3)

Layout: D/a/00001.html .. D/a/<N>.html (5 digits, more if N > 99999).
Prints one JSON line: pages, written, unchanged, size stats.
With --manifest FILE also writes "path<TAB>etag" lines, the ETag computed the
way nginx does ("<hex mtime>-<hex size>"), for a conditional wrk run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import random
import sys


# Only Random.random() is guaranteed to give the same sequence on every Python
# version, so every draw below is built on it: same seed, same pages, anywhere.
def rint(r: random.Random, a: int, b: int | None = None) -> int:
    """Like randrange(a) / randrange(a, b)."""
    if b is None:
        a, b = 0, a
    return a + int(r.random() * (b - a))


def pick(r: random.Random, seq):
    return seq[int(r.random() * len(seq))]


def sample(r: random.Random, n: int, k: int) -> list[int]:
    """k distinct integers from range(n), in draw order."""
    if k * 2 > n:  # dense: partial Fisher-Yates
        items = list(range(n))
        for i in range(k):
            j = i + int(r.random() * (n - i))
            items[i], items[j] = items[j], items[i]
        return items[:k]
    seen: set[int] = set()
    out = []
    while len(out) < k:
        v = int(r.random() * n)
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out

SITE = "The Meridian Ledger"

NAV = [
    ("/world/", "World"),
    ("/politics/", "Politics"),
    ("/business/", "Business"),
    ("/provinces/", "Provinces"),
    ("/science/", "Science &amp; Technology"),
    ("/culture/", "Culture"),
    ("/sport/", "Sport"),
    ("/opinion/", "Opinion"),
]

FOOTER_LINKS = [
    ("/about/", "About us"),
    ("/contact/", "Contact"),
    ("/rss/", "RSS feeds"),
    ("/privacy/", "Privacy policy"),
    ("/terms/", "Terms of use"),
    ("/archive/", "Archive"),
]

# (singular, plural)
NOUNS = [
    ("government", "governments"), ("committee", "committees"), ("minister", "ministers"),
    ("council", "councils"), ("report", "reports"), ("economy", "economies"),
    ("region", "regions"), ("province", "provinces"), ("official", "officials"),
    ("delegation", "delegations"), ("agreement", "agreements"), ("proposal", "proposals"),
    ("budget", "budgets"), ("policy", "policies"), ("project", "projects"),
    ("community", "communities"), ("industry", "industries"), ("market", "markets"),
    ("sector", "sectors"), ("company", "companies"), ("factory", "factories"),
    ("harbour", "harbours"), ("railway", "railways"), ("bridge", "bridges"),
    ("school", "schools"), ("hospital", "hospitals"), ("university", "universities"),
    ("study", "studies"), ("survey", "surveys"), ("farmer", "farmers"),
    ("worker", "workers"), ("engineer", "engineers"), ("teacher", "teachers"),
    ("resident", "residents"), ("village", "villages"), ("city", "cities"),
    ("district", "districts"), ("river", "rivers"), ("coastline", "coastlines"),
    ("forest", "forests"), ("harvest", "harvests"), ("exhibition", "exhibitions"),
    ("festival", "festivals"), ("museum", "museums"), ("programme", "programmes"),
    ("initiative", "initiatives"), ("network", "networks"), ("system", "systems"),
    ("framework", "frameworks"), ("strategy", "strategies"), ("investment", "investments"),
    ("reform", "reforms"), ("court", "courts"), ("election", "elections"),
    ("campaign", "campaigns"), ("mission", "missions"), ("summit", "summits"),
    ("conference", "conferences"), ("partnership", "partnerships"), ("analyst", "analysts"),
    ("researcher", "researchers"), ("scientist", "scientists"), ("volunteer", "volunteers"),
    ("team", "teams"), ("season", "seasons"), ("record", "records"),
    ("statement", "statements"), ("meeting", "meetings"), ("plan", "plans"),
    ("review", "reviews"), ("inspection", "inspections"), ("road", "roads"),
    ("highway", "highways"), ("port", "ports"), ("airport", "airports"),
    ("station", "stations"), ("power plant", "power plants"), ("reservoir", "reservoirs"),
    ("grid", "grids"), ("satellite", "satellites"), ("laboratory", "laboratories"),
    ("vaccine", "vaccines"), ("clinic", "clinics"), ("pension", "pensions"),
    ("tariff", "tariffs"), ("export", "exports"), ("shipment", "shipments"),
    ("fleet", "fleets"), ("library", "libraries"), ("orchestra", "orchestras"),
    ("stadium", "stadiums"), ("supplier", "suppliers"), ("contract", "contracts"),
    ("loan", "loans"), ("subsidy", "subsidies"), ("cooperative", "cooperatives"),
    ("warehouse", "warehouses"), ("terminal", "terminals"), ("pipeline", "pipelines"),
]

ADJS = [
    "new", "national", "regional", "local", "annual", "major", "modern", "rural",
    "urban", "historic", "central", "northern", "southern", "eastern", "western",
    "coastal", "ambitious", "comprehensive", "detailed", "significant", "steady",
    "gradual", "rapid", "modest", "sustainable", "digital", "joint", "public",
    "private", "international", "independent", "senior", "former", "recent",
    "long-awaited", "controversial", "preliminary", "revised", "expanded",
    "temporary", "permanent", "experimental", "cautious", "record", "unexpected",
    "broad", "narrow", "crucial", "routine", "landmark",
]

ADVS = [
    "quickly", "steadily", "gradually", "sharply", "slightly", "largely", "mostly",
    "carefully", "formally", "publicly", "quietly", "repeatedly", "initially",
    "eventually", "consistently", "considerably",
]

# (past, base, past participle)
VERBS = [
    ("announced", "announce", "announced"), ("approved", "approve", "approved"),
    ("reviewed", "review", "reviewed"), ("launched", "launch", "launched"),
    ("completed", "complete", "completed"), ("expanded", "expand", "expanded"),
    ("inspected", "inspect", "inspected"), ("presented", "present", "presented"),
    ("discussed", "discuss", "discussed"), ("welcomed", "welcome", "welcomed"),
    ("criticised", "criticise", "criticised"), ("defended", "defend", "defended"),
    ("signed", "sign", "signed"), ("opened", "open", "opened"),
    ("unveiled", "unveil", "unveiled"), ("delayed", "delay", "delayed"),
    ("postponed", "postpone", "postponed"), ("financed", "finance", "financed"),
    ("supported", "support", "supported"), ("outlined", "outline", "outlined"),
    ("praised", "praise", "praised"), ("questioned", "question", "questioned"),
    ("examined", "examine", "examined"), ("confirmed", "confirm", "confirmed"),
    ("rejected", "reject", "rejected"), ("adopted", "adopt", "adopted"),
    ("visited", "visit", "visited"), ("rebuilt", "rebuild", "rebuilt"),
    ("extended", "extend", "extended"), ("modernised", "modernise", "modernised"),
    ("funded", "fund", "funded"), ("monitored", "monitor", "monitored"),
]

FIRST = [
    "Anna", "Marek", "Lina", "Tomas", "Sofia", "Daniel", "Irena", "Pavel", "Maria",
    "Jonas", "Elena", "Viktor", "Nadia", "Oskar", "Helena", "Ruben", "Clara",
    "Adrian", "Mira", "Stefan", "Leila", "Gustav", "Petra", "Emil",
]
LAST = [
    "Novak", "Halvorsen", "Petrov", "Lindqvist", "Moreau", "Kowalski", "Brennan",
    "Okafor", "Varga", "Castellano", "Marsh", "Ivanova", "Delacroix", "Sato",
    "Richter", "Amari", "Holm", "Duarte", "Keller", "Szabo", "Lund", "Fischer",
]
PLACES = [
    "Karava", "Northfield", "Belmora", "Ostrava Bay", "Tervel", "Kessling",
    "Marrow Point", "Sunvale", "Dravograd", "Linden Hills", "Port Avalon",
    "Eastmere", "Valcourt", "Halden", "Rivenna", "Stonebridge", "Corvale",
    "Westhaven", "Mirabel", "Ashford Valley",
]
AREAS = [
    "Agriculture", "Transport", "Energy", "Health", "Education", "Finance",
    "Culture", "Fisheries", "Housing", "Trade", "Water Resources", "Statistics",
]
ROLES = [
    "spokesperson", "deputy director", "senior economist", "project manager",
    "regional coordinator", "research fellow", "board member", "chief engineer",
]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PERIODS = ["months", "years", "weeks", "quarters", "seasons"]
MODALS = ["would", "could", "might", "should", "will"]

ARTICLE_BUDGET = 24_330  # characters of article sentences; whole page lands near 30 KB
BASE_DATE = dt.date(2026, 1, 30)


def fmt_date(d: dt.date) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


def a_or_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def number(r: random.Random) -> str:
    return f"{pick(r, [12, 25, 40, 75, 120, 300, 450, 800, 1200, 2500, 4000, 16000]) + rint(r, 0, 9):,}"


def name(r: random.Random) -> str:
    return f"{pick(r, FIRST)} {pick(r, LAST)}"


def org(r: random.Random) -> str:
    k = rint(r, 3)
    if k == 0:
        return f"Ministry of {pick(r, AREAS)}"
    if k == 1:
        return f"{pick(r, PLACES)} Institute of {pick(r, AREAS)}"
    return f"{pick(r, AREAS)} Development Agency"


def sentence(r: random.Random) -> str:
    """One sentence of plausible news prose (roughly 90-220 characters)."""
    n1, n2, n3 = pick(r, NOUNS), pick(r, NOUNS), pick(r, NOUNS)
    a1, a2 = pick(r, ADJS), pick(r, ADJS)
    v1, v2 = pick(r, VERBS), pick(r, VERBS)
    place = pick(r, PLACES)
    year = pick(r, [2019, 2020, 2021, 2022, 2023, 2024, 2025])
    t = rint(r, 14)
    if t == 0:
        return (f"The {a1} {n1[0]} {v1[0]} the {n2[0]} on {pick(r, WEEKDAYS)}, according to "
                f"{a_or_an(n3[0])} {n3[0]} from the {a2} district of {place}.")
    if t == 1:
        return (f"Officials said the {n1[0]} would {v1[1]} {number(r)} {n2[1]} by {year + 2}, "
                f"{a_or_an(a1)} {a1} increase on the previous year.")
    if t == 2:
        return (f"\u201cWe have {v1[2]} every {n1[0]} in {place} and the results are {a1},\u201d said "
                f"{name(r)}, {a_or_an(pick(r, ROLES))} {pick(r, ROLES)} at the {org(r)}.")
    if t == 3:
        return (f"The {n1[0]} has {pick(r, ADVS)} {v1[2]} since {pick(r, MONTHS)} {year}, when the "
                f"{a1} {n2[0]} was first {v2[2]} by the {org(r)}.")
    if t == 4:
        return (f"In {place}, {n1[1]} {v1[0]} the {a1} {n2[0]}, which {pick(r, ADVS)} accounts for "
                f"{rint(r, 3, 71)} percent of the {n3[0]}.")
    if t == 5:
        return (f"Critics, however, argued that the {n1[0]} {pick(r, MODALS)} {v1[1]} the {a1} "
                f"{n2[1]} without {a_or_an(a2)} {a2} {n3[0]}.")
    if t == 6:
        return (f"By the end of {pick(r, MONTHS)}, more than {number(r)} {n1[1]} had {v1[2]} the "
                f"{a1} {n2[0]} in {place}.")
    if t == 7:
        return (f"{name(r)}, who has {v1[2]} the {n1[0]} for {rint(r, 2, 31)} years, described the "
                f"{n2[0]} as {a1} and {a2}.")
    if t == 8:
        return (f"According to the {a1} {n1[0]}, {n2[1]} in {place} received "
                f"{rint(r, 2, 95)}.{rint(r, 10)} million in {year}, up from "
                f"{rint(r, 1, 60)}.{rint(r, 10)} million a year earlier.")
    if t == 9:
        return (f"The {a1} {n1[0]} is expected to {v1[1]} the {n2[1]} {pick(r, ADVS)} over the coming "
                f"{pick(r, PERIODS)}, the {org(r)} said in a statement.")
    if t == 10:
        return (f"Residents of {place} {v1[0]} the {n1[0]}, saying it {pick(r, MODALS)} "
                f"{v2[1]} {a1} {n2[1]} for local {n3[1]}.")
    if t == 11:
        return (f"A {a1} {n1[0]} published on {pick(r, WEEKDAYS)} found that {rint(r, 3, 90)} percent "
                f"of {n2[1]} in the province had {v1[2]} their {n3[1]} at least once.")
    if t == 12:
        return (f"The {org(r)} {v1[0]} {a_or_an(a1)} {a1} {n1[0]} for {place}, and {n2[1]} "
                f"are due to {v2[1]} the {n3[0]} before {pick(r, MONTHS)}.")
    return (f"Work on the {a1} {n1[0]} near {place} began in {year} and, despite {a_or_an(a2)} {a2} "
            f"{n2[0]}, has {pick(r, ADVS)} {v1[2]} the {n3[1]} of the area.")


def title(r: random.Random) -> str:
    n1, n2 = pick(r, NOUNS), pick(r, NOUNS)
    a1 = pick(r, ADJS)
    v = pick(r, VERBS)
    place = pick(r, PLACES)
    t = rint(r, 4)
    if t == 0:
        s = f"{place} {v[0]} {a1} {n1[0]} {n2[0]}"
    elif t == 1:
        s = f"{a1} {n1[0]} {v[0]} in {place}"
    elif t == 2:
        s = f"{n1[1]} in {place} {v[0]} the {a1} {n2[0]}"
    else:
        s = f"{org(r)} {v[0]} {a1} {n1[0]} for {place}"
    return s[0].upper() + s[1:]


def clip(text: str, limit: int = 120) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > 0 else limit - 1].rstrip(",;:") + "\u2026"


class Corpus:
    """Everything about a page that never changes: title, date, author, article."""

    def __init__(self, seed: int, count: int):
        self.seed = seed
        self.count = count
        pool_rng = random.Random(f"{seed}:pool")
        # A shared sentence pool keeps generation fast (tens of thousands of pages);
        # each page draws its own sequence of sentences from it.
        self.pool = [sentence(pool_rng) for _ in range(max(4000, min(40000, count * 4)))]
        self.titles, self.dates, self.authors, self.articles = [], [], [], []
        for i in range(count):
            r = random.Random(f"{seed}:page:{i}")
            self.titles.append(title(r))
            self.dates.append(BASE_DATE - dt.timedelta(days=(i * 7919) % 730))
            self.authors.append(name(r))
            nparas = rint(r, 6, 11)
            budget = ARTICLE_BUDGET + rint(r, -400, 401)
            per = budget // nparas
            paras = []
            for _ in range(nparas):
                sent, used = [], 0
                while used < per:
                    k = rint(r, len(self.pool))
                    sent.append(k)
                    used += len(self.pool[k]) + 1
                paras.append(sent)
            self.articles.append(paras)

    def lead(self, j: int) -> str:
        return self.pool[self.articles[j][0][0]]


def apply_edits(corpus: Corpus, seeds: list[int], fraction: float):
    """Return {page: {(para, sent): text}} for the cumulative edit layers."""
    edits: dict[int, dict[tuple[int, int], str]] = {}
    n = corpus.count
    k = min(n, max(1 if fraction > 0 and n else 0, round(n * fraction)))
    for s in seeds:
        chosen = sample(random.Random(f"{corpus.seed}:edit:{s}"), n, k)
        for i in chosen:
            r = random.Random(f"{corpus.seed}:edit:{s}:{i}")
            paras = corpus.articles[i]
            p = rint(r, len(paras))
            q = rint(r, len(paras[p]))
            page_edits = edits.setdefault(i, {})
            old = page_edits.get((p, q), corpus.pool[paras[p][q]])
            new = sentence(r)
            # Different text and different length: the ETag (mtime-size) changes
            # even if the mtime second did not.
            while new == old or len(new.encode()) == len(old.encode()):
                new = sentence(r)
            page_edits[(p, q)] = new
    return edits


def pick_others(r: random.Random, i: int, n: int, k: int) -> list[int]:
    if n <= 1:
        return []
    k = min(k, n - 1)
    picks = sample(r, n - 1, k)
    return [j if j < i else j + 1 for j in picks]


def boilerplate_links(corpus: Corpus, i: int, rotation: int):
    n = corpus.count
    related = pick_others(random.Random(f"{corpus.seed}:related:{rotation}:{i}"), i, n, 5)
    more = pick_others(random.Random(f"{corpus.seed}:more:{rotation}:{i}"), i, n, 10)
    if rotation:
        # "Every page's boilerplate changes": guarantee it even for tiny N.
        base_rel, base_more = boilerplate_links(corpus, i, 0)
        tries = 0
        while (related == base_rel or more == base_more) and tries < 50 and n > 2:
            tries += 1
            related = pick_others(random.Random(f"{corpus.seed}:related:{rotation}:{i}:{tries}"), i, n, 5)
            more = pick_others(random.Random(f"{corpus.seed}:more:{rotation}:{i}:{tries}"), i, n, 10)
    return related, more


STYLE = """body{margin:0;font:16px/1.6 Georgia,serif;color:#1b1b1b;background:#fafaf7}
.site-header{background:#7a0d0d;color:#fff;padding:0 24px}.site-header .logo a{color:#fff;font:700 28px/64px sans-serif;text-decoration:none}
.site-header nav ul{list-style:none;margin:0;padding:0;display:flex;gap:18px}.site-header nav a{color:#fde;font:14px sans-serif}
.wrap{display:flex;max-width:1180px;margin:0 auto;gap:32px;padding:24px}main{flex:3}#sidebar{flex:1;border-left:1px solid #ddd;padding-left:20px}
.story h1{font-size:34px;line-height:1.2}.byline,.date{color:#666;font:13px sans-serif}.related ul,.more{list-style:none;padding:0}
.more li{margin-bottom:14px}.more p{margin:4px 0;font-size:14px}footer{background:#222;color:#bbb;padding:24px;font:13px sans-serif}"""


def render(corpus: Corpus, i: int, width: int, rotation: int, page_edits: dict) -> str:
    e = html.escape
    t = corpus.titles[i]
    d = corpus.dates[i]
    href = lambda j: f"/a/{j + 1:0{width}d}.html"  # noqa: E731
    out = []
    w = out.append
    w("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
    w(f"<title>{e(t)} | {SITE}</title>\n")
    w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
    w(f"<meta name=\"description\" content=\"{e(clip(corpus.lead(i), 150))}\">\n")
    w(f"<link rel=\"canonical\" href=\"{href(i)}\">\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n")
    w(f"<style>\n{STYLE}\n</style>\n")
    w("<script type=\"application/ld+json\">"
      + json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": t,
                    "datePublished": d.isoformat(), "author": {"@type": "Person", "name": corpus.authors[i]},
                    "publisher": {"@type": "Organization", "name": SITE}})
      + "</script>\n</head>\n<body>\n")
    w("<header class=\"site-header\">\n<div class=\"logo\"><a href=\"/\">" + SITE + "</a></div>\n<nav>\n<ul>\n")
    for url, label in NAV:
        w(f"<li><a href=\"{url}\">{label}</a></li>\n")
    w("</ul>\n</nav>\n</header>\n<div class=\"wrap\">\n<main>\n<article class=\"story\">\n")
    w(f"<h1>{e(t)}</h1>\n<p class=\"byline\">By {e(corpus.authors[i])}</p>\n")
    w(f"<time class=\"date\" datetime=\"{d.isoformat()}\">{fmt_date(d)}</time>\n<div class=\"story-body\">\n")
    pool = corpus.pool
    for p, para in enumerate(corpus.articles[i]):
        sents = [page_edits.get((p, q), pool[k]) if page_edits else pool[k] for q, k in enumerate(para)]
        w("<p>" + e(" ".join(sents), quote=False) + "</p>\n")
    w("</div>\n</article>\n")
    related, more = boilerplate_links(corpus, i, rotation)
    w("<div class=\"related\"><h3>Related</h3><ul>\n")
    for j in related:
        w(f"<li><a href=\"{href(j)}\">{e(corpus.titles[j])}</a></li>\n")
    w("</ul></div>\n</main>\n<div id=\"sidebar\"><h3>More Articles</h3><ul class=\"more\">\n")
    for j in more:
        w(f"<li><a href=\"{href(j)}\">{e(corpus.titles[j])}</a><p>{e(clip(corpus.lead(j)), quote=False)}</p>"
          f"<span class=\"date\">{fmt_date(corpus.dates[j])}</span></li>\n")
    w("</ul></div>\n</div>\n<footer>\n<ul class=\"footer-links\">\n")
    for url, label in FOOTER_LINKS:
        w(f"<li><a href=\"{url}\">{label}</a></li>\n")
    w(f"</ul>\n<p>&copy; 2026 {SITE}. All rights reserved. Reproduction without permission is prohibited.</p>\n"
      "</footer>\n</body>\n</html>\n")
    return "".join(out)


def write_if_changed(path: str, data: bytes) -> bool:
    try:
        old_st = os.stat(path)
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    except FileNotFoundError:
        old_st = None
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if old_st is not None:
        # nginx validators have one-second resolution: make sure a changed page
        # never keeps the Last-Modified second of its previous version.
        old_sec = int(old_st.st_mtime)
        if int(os.stat(path).st_mtime) <= old_sec:
            os.utime(path, (old_sec + 1, old_sec + 1))
    return True


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="site root; pages go to OUT/a/")
    ap.add_argument("--count", "-n", type=int, required=True, help="number of pages")
    ap.add_argument("--seed", type=int, default=20260130, help="corpus seed (default %(default)s)")
    ap.add_argument("--variant", choices=["base"], help="base pages (the default when no edit/rotation is given)")
    ap.add_argument("--edit-fraction", type=float, default=0.1, help="fraction of pages each edit layer touches")
    ap.add_argument("--edit-seed", type=int, action="append", default=[],
                    help="apply an edit layer; repeat for cumulative layers, in order")
    ap.add_argument("--rotate-boilerplate", type=int, nargs="?", const=1, default=0, metavar="K",
                    help="boilerplate rotation number (flag alone = 1); 0 = base sidebar/related")
    ap.add_argument("--manifest", help="write 'path<TAB>etag' lines (nginx-style ETags) here")
    args = ap.parse_args(argv)

    if args.variant == "base" and (args.edit_seed or args.rotate_boilerplate):
        ap.error("--variant base excludes --edit-seed and --rotate-boilerplate")
    if args.count < 1:
        ap.error("--count must be >= 1")
    if not 0.0 <= args.edit_fraction <= 1.0:
        ap.error("--edit-fraction must be within [0, 1]")

    width = max(5, len(str(args.count)))
    corpus = Corpus(args.seed, args.count)
    edits = apply_edits(corpus, args.edit_seed, args.edit_fraction)
    adir = os.path.join(args.out, "a")
    os.makedirs(adir, exist_ok=True)
    written = 0
    sizes = []
    for i in range(args.count):
        data = render(corpus, i, width, args.rotate_boilerplate, edits.get(i, {})).encode("utf-8")
        sizes.append(len(data))
        if write_if_changed(os.path.join(adir, f"{i + 1:0{width}d}.html"), data):
            written += 1
    if args.manifest:
        tmp = args.manifest + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            for i in range(args.count):
                rel = f"/a/{i + 1:0{width}d}.html"
                st = os.stat(os.path.join(args.out, rel.lstrip("/")))
                f.write(f"{rel}\t\"{int(st.st_mtime):x}-{st.st_size:x}\"\n")
        os.replace(tmp, args.manifest)
    print(json.dumps({
        "pages": args.count, "written": written, "unchanged": args.count - written,
        "edited_pages": len(edits), "rotation": args.rotate_boilerplate,
        "bytes_total": sum(sizes), "bytes_avg": round(sum(sizes) / len(sizes)),
        "bytes_min": min(sizes), "bytes_max": max(sizes), "width": width,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
