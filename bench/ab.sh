#!/usr/bin/env bash
# Interleaved A/B of two palimpsest binaries on pass 2a (the benchmark's
# validators-on pass: 10% of the pages edited, the rest answer 304).
#
#   bench/ab.sh [-k K] [-n N] BIN_A BIN_B
#
# Whole passes move by ±10 % from one minute to the next on a small shared
# machine, so one run of each binary cannot tell a 5 % change. This script
# runs the two binaries alternately, K times each (default 8), every run on
# a fresh copy of the same database (made by one pass 1 of BIN_A over N
# pages, default 10000), and prints the median and the best wall time, CPU
# seconds and peak RSS of each. nginx serves the pages on a free loopback
# port and is stopped on exit. Needs what bench/run.sh needs; the work
# directory ($TMPDIR/palimpsest-ab.XXXXXX) is removed at the end.
#
# With FLOOR=target/release/examples/floor (bench/floor.rs), every round
# also runs the floor of the pass on the same pages and database, so the
# binaries' times can be read as ratios to it (FLOOR_ARGS="--workers 1"
# passes options to it).
#
# With INSTRUCTIONS=1, each binary runs once under valgrind's callgrind
# instead, on pass 2a and on a pass where every page answers 304, and the
# script prints the instructions each executed. The counts repeat to a few
# parts in 100,000 from run to run, where wall times on a shared machine
# move by 10 %, so they show a change of 1 % that timing cannot (they do
# not see cache misses or system calls: time decides, counts point the way).
# Needs valgrind; a pass takes about a minute under it.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K=8
N=10000
while (($#)); do
    case $1 in
        -k) K=${2:?-k needs a number}; shift 2 ;;
        -n) N=${2:?-n needs a number}; shift 2 ;;
        -h | --help) sed -n '2,27s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) break ;;
    esac
done
if (($# != 2)); then
    echo "usage: bench/ab.sh [-k K] [-n N] BIN_A BIN_B" >&2
    exit 64
fi
A=$(realpath "$1")
B=$(realpath "$2")
for bin in "$A" "$B"; do
    [[ -x $bin ]] || { echo "ab.sh: $bin is not an executable" >&2; exit 64; }
done
for cmd in nginx python3 sqlite3; do
    command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] ||
        { echo "ab.sh: $cmd is missing (bench/run.sh installs it)" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "ab.sh: /usr/bin/time is missing (package time)" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

T=$(mktemp -d "${TMPDIR:-/tmp}/palimpsest-ab.XXXXXX")
chmod 755 "$T"
cleanup() {
    [[ -f $T/nginx.pid ]] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
log() { printf '[ab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

log "generating $N pages"
python3 "$SCRIPT_DIR/gen_pages.py" --out "$T/site" --count "$N" --variant base >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
USER_LINE=""
((EUID == 0)) && USER_LINE="user root root;"
mkdir -p "$T/tmp"
cat >"$T/nginx.conf" <<EOF
daemon on;
master_process on;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/error.log warn;
$USER_LINE
events { worker_connections 4096; }
http {
    types { text/html html; }
    default_type application/octet-stream;
    charset utf-8;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    gzip off;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $T/site;
        etag on;
        if_modified_since exact;
        location / { }
    }
}
EOF
"$NGINX" -p "$T/" -c "$T/nginx.conf" -e "$T/error.log"

WIDTH=${#N}
((WIDTH < 5)) && WIDTH=5
{
    printf '[storage]\npath = "%s"\n\n' "$T/db/bench.db"
    printf '[fetch]\ntimeout = "30s"\nconcurrency = 64\nper_host = 64\nallow_private_networks = true\n'
    for ((i = 1; i <= N; i++)); do
        printf '\n[[watch]]\nname = "p%0*d"\nurl = "http://127.0.0.1:%d/a/%0*d.html"\ninterval = "1h"\n' \
            "$WIDTH" "$i" "$PORT" "$WIDTH" "$i"
    done
} >"$T/bench.toml"

log "pass 1 with $A"
mkdir -p "$T/db"
"$A" run --config "$T/bench.toml" --once >/dev/null 2>"$T/pass1.log" ||
    { echo "ab.sh: pass 1 failed, see below" >&2; tail -5 "$T/pass1.log" >&2; exit 1; }
sqlite3 "$T/db/bench.db" 'pragma wal_checkpoint(truncate)' >/dev/null
cp -a "$T/db" "$T/db1"
python3 "$SCRIPT_DIR/gen_pages.py" --out "$T/site" --count "$N" --edit-fraction 0.1 --edit-seed 1 >/dev/null

if [[ ${INSTRUCTIONS:-0} == 1 ]]; then
    command -v valgrind >/dev/null 2>&1 ||
        { echo "ab.sh: INSTRUCTIONS=1 needs valgrind (apt-get install valgrind)" >&2; exit 1; }
    # count BIN DB_DIR: the instructions of one pass of BIN on a copy of DB_DIR.
    count() {
        rm -rf "$T/db"
        cp -a "$2" "$T/db"
        valgrind --tool=callgrind --callgrind-out-file="$T/callgrind.out" \
            "$1" run --config "$T/bench.toml" --once >/dev/null 2>"$T/callgrind.log" ||
            { echo "ab.sh: $1 failed under valgrind, see below" >&2; tail -5 "$T/callgrind.log" >&2; exit 1; }
        awk '/^totals:/ { print $2 }' "$T/callgrind.out"
    }
    log "pass 2a under callgrind, once each"
    a2=$(count "$A" "$T/db1")
    cp -a "$T/db" "$T/db2" # after pass 2a: every page now answers 304
    b2=$(count "$B" "$T/db1")
    log "a pass of 304s under callgrind, once each"
    a3=$(count "$A" "$T/db2")
    b3=$(count "$B" "$T/db2")
    python3 - "$a2" "$b2" "$a3" "$b3" "$A" "$B" <<'EOF'
import sys
a2, b2, a3, b3 = (int(x) for x in sys.argv[1:5])
print(f"pass 2a:       A {a2:,}  B {b2:,}  B/A {b2 / a2:.4f}")
print(f"all-304 pass:  A {a3:,}  B {b3:,}  B/A {b3 / a3:.4f}")
print(f"A {sys.argv[5]}\nB {sys.argv[6]}")
EOF
    exit 0
fi

log "pass 2a, $K runs of each, alternating"
for ((i = 0; i < K; i++)); do
    for x in A B; do
        rm -rf "$T/db"
        cp -a "$T/db1" "$T/db"
        sync
        sleep 0.2
        echo "$x $(/usr/bin/time -f '%e %U %S %M' "${!x}" run --config "$T/bench.toml" --once 2>&1 >/dev/null | tail -1)"
    done
    if [[ -n ${FLOOR:-} ]]; then
        # "... 0.701 s wall, 0.912 CPU s, 61234 KB peak RSS, ..." -> "F 0.701 0.912 0 61234"
        echo "F $("$FLOOR" "$T/db1/bench.db" "$T/floor" ${FLOOR_ARGS:-} | sed -E 's/.* ([0-9.]+) s wall, ([0-9.]+) CPU s, ([0-9]+) KB.*/\1 \2 0 \3/')"
    fi
done >"$T/runs.txt"

python3 - "$T/runs.txt" "$A" "$B" "${FLOOR:-}" <<'EOF'
import statistics, sys
runs = {"A": [], "B": [], "F": []}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5 and f[0] in runs:
        runs[f[0]].append((float(f[1]), float(f[2]) + float(f[3]), int(f[4]) / 1024))
for key, path in (("A", sys.argv[2]), ("B", sys.argv[3]), ("F", sys.argv[4])):
    r = runs[key]
    if key == "F" and not path:
        continue
    if not r:
        print(f"{key} {path}: no successful run")
        continue
    wall = [x[0] for x in r]
    cpu = [x[1] for x in r]
    print(f"{key}: wall median {statistics.median(wall):.3f} s, best {min(wall):.3f} s | "
          f"CPU median {statistics.median(cpu):.3f} s, best {min(cpu):.3f} s | "
          f"peak RSS {max(x[2] for x in r):.1f} MB | {len(r)} runs | {path}")
EOF
