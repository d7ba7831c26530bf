#!/usr/bin/env python3
"""Turn the files bench/run.sh leaves in its work directory into markdown.

    report.py --n N --line RUN_DIR    one-line summary of one pass (progress output)
    report.py --n N --workdir DIR     the full results.md (table + machine info)

Python standard library only. Each run directory (DIR/run-<name>/) holds:
meta.txt (key=value), status.txt (from the nginx access log), and for a
palimpsest pass time.txt (GNU time -v), events.txt / versions.txt (sqlite3
output) and gen.json (gen_pages.py summary); for wrk, wrk.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys

RUN_ORDER = ["wrk", "wrk-304", "1", "2a", "2b", "3"]


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def kv(path: str) -> dict[str, str]:
    out = {}
    for line in read(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def statuses(run_dir: str):
    codes, other = {}, {}
    for line in read(os.path.join(run_dir, "status.txt")).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "status":
            codes[parts[1]] = int(parts[2])
        elif len(parts) == 2:
            other[parts[0]] = int(parts[1])
    return dict(sorted(codes.items())), other


def gnu_time(run_dir: str):
    text = read(os.path.join(run_dir, "time.txt"))

    def num(label):
        m = re.search(re.escape(label) + r"\s*:\s*([0-9.]+)", text)
        return float(m.group(1)) if m else None

    return {
        "user": num("User time (seconds)"),
        "sys": num("System time (seconds)"),
        "maxrss_kb": num("Maximum resident set size (kbytes)"),
        "cpu_pct": (m.group(1) if (m := re.search(r"Percent of CPU this job got: (\S+)", text)) else None),
    }


def events(run_dir: str):
    """{kind: count} or None when the query failed / produced nothing usable."""
    path = os.path.join(run_dir, "events.txt")
    if not os.path.exists(path) or read(path + ".err").strip():
        return None
    out = {}
    for line in read(path).splitlines():
        if "|" in line:
            k, v = line.rsplit("|", 1)
            try:
                out[k] = int(v)
            except ValueError:
                pass
    return out


def versions(run_dir: str):
    path = os.path.join(run_dir, "versions.txt")
    if read(path + ".err").strip():
        return None
    try:
        return int(read(path).strip())
    except ValueError:
        return None


def wrk_stats(run_dir: str):
    text = read(os.path.join(run_dir, "wrk.txt"))
    out = {}
    if m := re.search(r"Requests/sec:\s*([0-9.]+)", text):
        out["rps"] = float(m.group(1))
    if m := re.search(r"Transfer/sec:\s*(\S+)", text):
        out["transfer"] = m.group(1)
    if m := re.search(r"(\d+) requests in ([0-9.]+)(m?s)", text):
        out["requests"] = int(m.group(1))
        out["secs"] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    for pct in ("50%", "90%", "99%"):
        if m := re.search(r"^\s*" + re.escape(pct) + r"\s+(\S+)", text, re.M):
            out["p" + pct[:-1]] = m.group(1)
    if m := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text):
        out["non2xx3xx"] = int(m.group(1))
    if m := re.search(r"Socket errors:(.*)", text):
        out["socket_errors"] = m.group(1).strip()
    return out


def fmt_int(v) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def fmt_f(v, digits=2) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def fmt_ratio(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}" if v >= 0.1 else f"{v:#.2g}"


def fmt_statuses(codes: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in codes.items()) or "none"


def fmt_events(d) -> str:
    if d is None:
        return "n/a"
    d = {k: v for k, v in d.items() if v}
    return ", ".join(f"{k}: {v:,}" for k, v in sorted(d.items())) or "none"


def load_runs(workdir: str, n: int):
    runs = []
    for name in RUN_ORDER:
        d = os.path.join(workdir, f"run-{name}")
        if os.path.isdir(d):
            runs.append(load_run(d, n))
    return runs


def load_run(d: str, n: int):
    meta = kv(os.path.join(d, "meta.txt"))
    codes, other = statuses(d)
    run = {"dir": d, "meta": meta, "name": meta.get("name", os.path.basename(d)[4:]),
           "kind": meta.get("kind", "pass"), "codes": codes, "log": other}
    if run["kind"] == "wrk":
        run["wrk"] = wrk_stats(d)
        run["rate"] = run["wrk"].get("rps")
        run["wall"] = run["wrk"].get("secs")
        return run
    wall = int(meta["wall_ns"]) / 1e9 if meta.get("wall_ns") else None
    t = gnu_time(d)
    cpu = (t["user"] + t["sys"]) if t["user"] is not None and t["sys"] is not None else None
    try:
        gen = json.loads(read(os.path.join(d, "gen.json")) or "{}")
    except ValueError:
        gen = {}
    run.update({
        "wall": wall,
        "rate": (n / wall) if wall else None,
        "cpu": cpu,
        "cpu_per_1k": (cpu / n * 1000) if cpu is not None else None,
        "rss_mb": (t["maxrss_kb"] / 1024) if t["maxrss_kb"] is not None else None,
        "cpu_pct": t["cpu_pct"],
        "events": events(d),
        "versions": versions(d),
        "db_bytes": int(meta["db_bytes"]) if meta.get("db_bytes") else None,
        "exit": meta.get("exit", "?"),
        "changed": gen.get("written"),
        "page_avg": gen.get("bytes_avg"),
    })
    return run


def add_deltas(runs):
    prev_events: dict[str, int] = {}
    prev_versions = 0
    for r in runs:
        if r["kind"] != "pass":
            continue
        ev = r["events"]
        if ev is None:
            r["events_delta"] = None
        else:
            kinds = set(ev) | set(prev_events)
            r["events_delta"] = {k: ev.get(k, 0) - prev_events.get(k, 0) for k in kinds}
            prev_events = ev
        v = r["versions"]
        r["versions_delta"] = None if v is None else v - prev_versions
        if v is not None:
            prev_versions = v


def one_line(run) -> str:
    if run["kind"] == "wrk":
        return f"wrk {run['name']}: {fmt_f(run['rate'], 0)} req/s; {fmt_statuses(run['codes'])}"
    return (f"pass {run['name']}: exit {run['exit']}, {fmt_f(run['wall'])} s, {fmt_f(run['rate'], 1)} checks/s, "
            f"CPU {fmt_f(run['cpu_per_1k'])} s/1k checks, peak RSS {fmt_f(run['rss_mb'], 1)} MB, "
            f"responses {fmt_statuses(run['codes'])} (conditional requests: {fmt_int(run['log'].get('conditional'))}), "
            f"versions {fmt_int(run['versions'])}, events {fmt_events(run['events'])}, "
            f"db {fmt_int(run['db_bytes'])} bytes")


def sh(*cmd: str) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(load_start: str) -> list[str]:
    cpu = "unknown"
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "unknown"
    if m := re.search(r"MemTotal:\s+(\d+) kB", read("/proc/meminfo")):
        mem = f"{int(m.group(1)) / 1024 / 1024:.1f} GiB"
    bin_path = os.environ.get("PALIMPSEST_BIN", "")
    pal = sh(bin_path, "--version").splitlines()[0] if bin_path and os.access(bin_path, os.X_OK) else ""
    git = sh("git", "-C", os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
             "describe", "--always", "--dirty")
    wrk_v = (re.search(r"wrk (\S+)", sh("wrk", "-v")) or [None, "?"])[1]
    nginx_v = (re.search(r"nginx/(\S+)", sh("nginx", "-v") or sh("/usr/sbin/nginx", "-v")) or [None, "?"])[1]
    sqlite_v = sh("sqlite3", "--version").split(" ")[0] or "?"
    return [
        f"- date (UTC): {sh('date', '-u')}",
        f"- machine: `nproc` = {sh('nproc')}, CPU: {cpu}, memory: {mem}",
        f"- kernel: {platform.system()} {sh('uname', '-r')} ({platform.machine()}); "
        f"1-min load average at start: {load_start or '?'}, at end: {read('/proc/loadavg').split(' ')[0]}",
        f"- palimpsest: {pal or 'n/a'} (`{bin_path or 'not run'}`)"
        + (f", git {git}" if git and not git.startswith("fatal") else ""),
        f"- nginx {nginx_v}, wrk {wrk_v}, sqlite3 {sqlite_v}, Python {platform.python_version()}",
    ]


def full_report(workdir: str, n: int) -> str:
    runs = load_runs(workdir, n)
    add_deltas(runs)
    base = next((r for r in runs if r["name"] == "wrk"), None)
    base_rate = base["rate"] if base else None
    first_pass = next((r for r in runs if r["kind"] == "pass"), None)
    try:
        gen = json.loads(read(os.path.join(workdir, "gen-base.json")) or "{}")
    except ValueError:
        gen = {}
    conf = read(os.path.join(workdir, "nginx", "nginx.conf"))
    workers = (re.search(r"worker_processes (\d+)", conf) or [None, "?"])[1]
    toml = read(os.path.join(workdir, "bench.toml"))
    conc = (re.search(r"concurrency = (\d+)", toml) or [None, "?"])[1]
    per_host = (re.search(r"per_host = (\d+)", toml) or [None, "?"])[1]

    out = [f"### palimpsest benchmark, N = {n:,} pages", ""]
    out += [
        "| Run | Validators | Pages changed | Responses | Wall s | Checks/s | × wrk | CPU s / 1k checks "
        "| Peak RSS MB | Versions (new) | Events this pass | DB bytes | DB bytes / 1k versions |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for r in runs:
        ratio = (r["rate"] / base_rate) if (r["rate"] and base_rate) else None
        if r["kind"] == "wrk":
            args = r["meta"].get("args", "")
            label = f"wrk {args}" + (" If-None-Match" if r["meta"].get("conditional") == "conditional" else "")
            out.append(f"| {label} | {r['meta'].get('validators', '?')} | — | {fmt_statuses(r['codes'])} | "
                       f"{fmt_f(r['wall'])} | {fmt_f(r['rate'], 0)} | {fmt_ratio(ratio)} | — | — | — | — | — | — |")
            continue
        label = f"pass {r['name']}" + ("" if r["exit"] == "0" else f" (exit {r['exit']})")
        # The first pass finds an empty database: every page is new to palimpsest.
        changed = f"{n:,} (new)" if r is first_pass else fmt_int(r["changed"])
        v, dv = r["versions"], r["versions_delta"]
        vcell = "n/a" if v is None else f"{v:,} (+{dv:,})"
        per_1k = (r["db_bytes"] / v * 1000) if (r["db_bytes"] is not None and v) else None
        out.append(
            f"| {label} | {r['meta'].get('validators', '?')} | {changed} | {fmt_statuses(r['codes'])} | "
            f"{fmt_f(r['wall'])} | {fmt_f(r['rate'], 1)} | {fmt_ratio(ratio)} | {fmt_f(r['cpu_per_1k'], 3)} | "
            f"{fmt_f(r['rss_mb'], 1)} | {vcell} | {fmt_events(r['events_delta'])} | {fmt_int(r['db_bytes'])} | "
            f"{fmt_int(per_1k)} |")
    out.append("")
    out.append(f"Pages: {n:,} static HTML articles, average {fmt_int(gen.get('bytes_avg'))} bytes "
               f"(min {fmt_int(gen.get('bytes_min'))}, max {fmt_int(gen.get('bytes_max'))}), served by nginx "
               f"on 127.0.0.1 with worker_processes {workers}, keepalive_requests 100000, gzip off. "
               f"palimpsest: `run --once`, fetch concurrency {conc}, per_host {per_host}. "
               "× wrk = rate / the first wrk row's requests/s. "
               "Versions and DB bytes are totals after the pass; events are the ones added by the pass.")
    out.append("")
    out.append("Passes:")
    for r in runs:
        if r["kind"] == "pass":
            out.append(f"- pass {r['name']}: {r['meta'].get('description', '')}; "
                       f"{fmt_int(r['log'].get('conditional'))} of {fmt_int(r['log'].get('requests'))} requests "
                       f"were conditional, {fmt_f((r['log'].get('body_bytes') or 0) / 1e6, 1)} MB of bodies sent, "
                       f"CPU {r['cpu_pct'] or 'n/a'} of one core, events in the database: {fmt_events(r['events'])}")
        else:
            w = r["wrk"]
            out.append(f"- {r['name']}: latency p50 {w.get('p50', '?')}, p90 {w.get('p90', '?')}, "
                       f"p99 {w.get('p99', '?')}, {w.get('transfer', '?')}/s"
                       + (f", socket errors: {w['socket_errors']}" if w.get("socket_errors") else "")
                       + (f", non-2xx/3xx: {w['non2xx3xx']:,}" if w.get("non2xx3xx") else ""))
    out.append("")
    out.append("Machine:")
    out += machine_info(read(os.path.join(workdir, "loadavg-start")).strip())
    out.append("")
    return "\n".join(out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--line", metavar="RUN_DIR")
    g.add_argument("--workdir", metavar="DIR")
    args = ap.parse_args(argv)
    if args.line:
        print(one_line(load_run(args.line, args.n)))
    else:
        sys.stdout.write(full_report(args.workdir, args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
