#!/usr/bin/env bash
# Reproducible throughput benchmark for palimpsest against a local nginx.
#
#   bench/run.sh [N]                 N pages/watches (default 10000, or $BENCH_N)
#   bench/run.sh -n 1000             same, as an option
#   bench/run.sh --baseline-only N   pages + nginx checks + wrk only, no palimpsest
#
# Environment:
#   PALIMPSEST_BIN       binary to measure (default: <repo>/target/release/palimpsest)
#   BENCH_N              default N when none is given on the command line
#   BENCH_WRK_DURATION   wrk run length (default 5s)
#   BENCH_PASS_TIMEOUT   seconds before a palimpsest pass is interrupted (default 3600, 0 = none)
#   BENCH_KEEP           1 keeps the work directory after a successful run
#                        (default 0: it is removed; it holds ~480 MB at N=10000)
#   TMPDIR               where the work directory is created (default /tmp)
#
# Only 127.0.0.1 is contacted. Needs Debian packages nginx-light, wrk, sqlite3,
# time, curl, python3 (installed with apt-get when missing and running as root).
# See bench/README.md for what each pass measures.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SCRIPT_DIR")
BIN=${PALIMPSEST_BIN:-$REPO_DIR/target/release/palimpsest}
N=${BENCH_N:-10000}
WRK_DURATION=${BENCH_WRK_DURATION:-5s}
WRK_THREADS=2
WRK_CONNS=32
PASS_TIMEOUT=${BENCH_PASS_TIMEOUT:-3600}
KEEP=${BENCH_KEEP:-0}
BASELINE_ONLY=0
SEED=20260130
EDIT_FRACTION=0.1

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -n | --pages) N=${2:?-n needs a number}; shift 2 ;;
        --baseline-only) BASELINE_ONLY=1; shift ;;
        [0-9]*) N=$1; shift ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 64 ;;
    esac
done
if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 1)); then
    echo "run.sh: N must be a positive integer, got '$N'" >&2
    exit 64
fi

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages ---
ensure_packages() {
    local missing=() cmd
    local -A need=([nginx]=nginx-light [wrk]=wrk [sqlite3]=sqlite3 [curl]=curl [python3]=python3)
    for cmd in "${!need[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || missing+=("${need[$cmd]}")
    done
    [[ -x /usr/bin/time ]] || missing+=(time)
    command -v timeout >/dev/null 2>&1 || missing+=(coreutils)
    ((${#missing[@]} == 0)) && return 0
    if ((EUID != 0)); then
        die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})"
    fi
    log "installing: ${missing[*]}"
    # Keep the packaged nginx service from starting (we run our own master on a
    # loopback port): policy-rc.d exit 101 forbids invoke-rc.d starts.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
    fi
    local rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
    ((added_policy)) && rm -f "$policy"
    ((rc == 0)) || die "apt-get install ${missing[*]} failed"
}
ensure_packages
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if ((!BASELINE_ONLY)); then
    if [[ ! -x $BIN ]]; then
        echo "palimpsest binary not found or not executable: $BIN" >&2
        echo "build it first:  cargo build --release   (or set PALIMPSEST_BIN=/path/to/palimpsest)" >&2
        exit 2
    fi
    BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
fi

# ------------------------------------------------------------ work dir/trap ---
T=$(mktemp -d "${TMPDIR:-/tmp}/palimpsest-bench.XXXXXX")
chmod 755 "$T" # nginx workers may run as another user
SITE=$T/site
NGX=$T/nginx
ACCESS_LOG=$NGX/access.log
DB=$T/bench.db
CONFIG=$T/bench.toml
PLOG=$T/palimpsest.log
mkdir -p "$SITE" "$NGX/tmp"
NGINX_PID=""

stop_nginx() {
    [[ -n $NGINX_PID ]] || return 0
    if kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$NGINX_PID" 2>/dev/null; then
            kill -TERM "$NGINX_PID" 2>/dev/null || true
            sleep 1
            kill -KILL "$NGINX_PID" 2>/dev/null || true
        fi
    fi
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_nginx
    if ((rc != 0)); then
        log "failed (exit $rc); work directory kept for inspection: $T"
        [[ -s $NGX/error.log ]] && { log "nginx error.log tail:"; tail -n 5 "$NGX/error.log" >&2; }
    elif [[ $KEEP != 1 ]]; then
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "work directory: $T  (N=$N)"
read -r LOAD1 _ </proc/loadavg
echo "$LOAD1" >"$T/loadavg-start"
if awk -v l="$LOAD1" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }'; then
    log "WARNING: load average $LOAD1 on $(nproc) CPUs: something else is running; figures will be low and noisy"
fi

# ------------------------------------------------------------------- pages ---
GEN_S=0
gen_pages() { # gen_pages OUT_JSON ARGS...
    local out=$1 t0 t1
    shift
    t0=$(date +%s%N)
    python3 "$SCRIPT_DIR/gen_pages.py" --out "$SITE" --count "$N" --seed "$SEED" \
        --manifest "$T/manifest.tsv" "$@" >"$out"
    t1=$(date +%s%N)
    GEN_S=$(((t1 - t0) / 1000000))
    log "pages: $(cat "$out") (${GEN_S} ms)"
}
json_field() { # json_field FILE KEY
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

gen_pages "$T/gen-base.json" --variant base
WIDTH=$(json_field "$T/gen-base.json" width)
FIRST_PATH=$(printf '/a/%0*d.html' "$WIDTH" 1)

# ------------------------------------------------------------------- nginx ---
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE_URL=http://127.0.0.1:$PORT
USER_LINE=""
((EUID == 0)) && USER_LINE="user root root;" # workers must read $T wherever TMPDIR is

cat >"$NGX/nginx.conf" <<EOF
# generated by bench/run.sh
daemon off;
master_process on;
worker_processes 2;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
$USER_LINE

events {
    worker_connections 4096;
}

http {
    types { text/html html; }
    default_type application/octet-stream;
    charset utf-8;

    log_format bench '\$status \$body_bytes_sent \$request_time "\$request" inm="\$http_if_none_match" ims="\$http_if_modified_since"';
    access_log $ACCESS_LOG bench;

    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    gzip off;

    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;

    server {
        listen 127.0.0.1:$PORT;
        server_name localhost;
        root $SITE;
        include $NGX/validators.conf;
        location / { }
    }
}
EOF

VALIDATORS=""
write_validators() {
    if [[ $1 == on ]]; then
        printf '# validators ON: nginx defaults, ETag + Last-Modified, 304 on a match\netag on;\nif_modified_since exact;\n'
    else
        printf '# validators OFF: no ETag, no Last-Modified, conditional headers ignored\netag off;\nif_modified_since off;\nadd_header Last-Modified "";\n'
    fi >"$NGX/validators.conf"
}

# The If-None-Match / If-Modified-Since values nginx would use for a file.
file_etag() {
    local mtime size
    read -r mtime size < <(stat -c '%Y %s' "$1")
    printf '"%x-%x"\n' "$mtime" "$size"
}
file_lastmod() { TZ=GMT date -d "@$(stat -c %Y "$1")" '+%a, %d %b %Y %H:%M:%S GMT'; }

# check_validators on|off: fail unless nginx behaves as configured.
check_validators() {
    local mode=$1 url=$BASE_URL$FIRST_PATH file=$SITE$FIRST_PATH headers etag lastmod code_inm code_ims
    headers=$(curl -sS -I "$url" | tr -d '\r')
    etag=$(file_etag "$file")
    lastmod=$(file_lastmod "$file")
    code_inm=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url")
    code_ims=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lastmod" "$url")
    local has_etag=no has_lm=no
    grep -qi '^etag:' <<<"$headers" && has_etag=yes
    grep -qi '^last-modified:' <<<"$headers" && has_lm=yes
    local summary="ETag header: $has_etag, Last-Modified header: $has_lm, If-None-Match -> $code_inm, If-Modified-Since -> $code_ims"
    if [[ $mode == on ]]; then
        [[ $has_etag == yes && $has_lm == yes && $code_inm == 304 && $code_ims == 304 ]] || return 1
    else
        [[ $has_etag == no && $has_lm == no && $code_inm == 200 && $code_ims == 200 ]] || return 1
    fi
    VALIDATOR_CHECK="validators $mode: $summary"
}

set_validators() { # set_validators on|off
    local mode=$1 i
    [[ $VALIDATORS == "$mode" ]] && return 0
    write_validators "$mode"
    "$NGINX" -t -q -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log" || die "nginx -t failed"
    kill -HUP "$NGINX_PID"
    # Reload is asynchronous: wait until new connections see the new behaviour.
    for ((i = 0; i < 100; i++)); do
        if check_validators "$mode" && check_validators "$mode"; then
            VALIDATORS=$mode
            log "$VALIDATOR_CHECK"
            return 0
        fi
        sleep 0.1
    done
    die "nginx did not switch validators $mode"
}

start_nginx() {
    write_validators off
    "$NGINX" -t -q -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log" || die "nginx -t failed"
    "$NGINX" -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log" </dev/null >>"$NGX/stdout.log" 2>&1 &
    NGINX_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited during start-up"
        if curl -fsS -o "$T/probe.html" "$BASE_URL$FIRST_PATH" 2>/dev/null &&
            cmp -s "$T/probe.html" "$SITE$FIRST_PATH"; then
            check_validators off || die "validators off: unexpected nginx behaviour"
            VALIDATORS=off
            log "nginx $NGINX_PID serving $SITE on $BASE_URL; $VALIDATOR_CHECK"
            return 0
        fi
        sleep 0.1
    done
    die "nginx did not answer on $BASE_URL within 10 s"
}
start_nginx

log_lines() { if [[ -f $ACCESS_LOG ]]; then wc -l <"$ACCESS_LOG"; else echo 0; fi; }
# count_statuses FROM_LINE OUT: statuses, conditional requests and body bytes of
# access-log lines after FROM_LINE.
count_statuses() {
    tail -n "+$(($1 + 1))" "$ACCESS_LOG" | awk '
        { status[$1]++; bytes += $2; total++ }
        / inm="[^"-]/ || / ims="[^"-]/ { cond++ }
        END {
            for (s in status) printf "status %s %d\n", s, status[s]
            printf "requests %d\nconditional %d\nbody_bytes %.0f\n", total, cond, bytes
        }' | sort >"$2"
}

# --------------------------------------------------------------------- wrk ---
run_wrk() { # run_wrk NAME validators(on|off) [conditional]
    local name=$1 mode=$2 cond=${3:-} dir=$T/run-$1 l0
    mkdir -p "$dir"
    set_validators "$mode"
    l0=$(log_lines)
    log "wrk $name: -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION over $N pages${cond:+ ($cond)}"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency \
        -s "$SCRIPT_DIR/wrk-paths.lua" "$BASE_URL" -- "$T/manifest.tsv" ${cond:+"$cond"} >"$dir/wrk.txt" 2>&1 ||
        die "wrk failed: $(cat "$dir/wrk.txt")"
    sleep 0.2 # let the last responses reach the access log
    count_statuses "$l0" "$dir/status.txt"
    printf 'kind=wrk\nname=%s\nvalidators=%s\nconditional=%s\nargs=-t%s -c%s -d%s\n' \
        "$name" "$mode" "${cond:-no}" "$WRK_THREADS" "$WRK_CONNS" "$WRK_DURATION" >"$dir/meta.txt"
    log "wrk $name: $(grep -E 'Requests/sec' "$dir/wrk.txt" | tr -s ' ') | $(grep '^status' "$dir/status.txt" | tr '\n' ' ')"
}

run_wrk wrk off
run_wrk wrk-304 on conditional

# -------------------------------------------------------------- palimpsest ---
{
    printf '[storage]\npath = "%s"\n\n' "$DB"
    printf '[fetch]\ntimeout = "30s"\nconcurrency = 64\nper_host = 64\nallow_private_networks = true\n'
    for ((i = 1; i <= N; i++)); do
        printf '\n[[watch]]\nname = "p%0*d"\nurl = "%s/a/%0*d.html"\ninterval = "1h"\n' \
            "$WIDTH" "$i" "$BASE_URL" "$WIDTH" "$i"
    done
} >"$CONFIG"

sql() { # sql OUT QUERY: run a query, report failures and carry on
    if [[ ! -f $DB ]]; then
        log "no database at $DB; skipped: sqlite3 $DB \"$2\""
        echo "no database" >"$1.err"
        : >"$1"
        return 0
    fi
    if ! sqlite3 -batch "$DB" "$2" >"$1" 2>"$1.err"; then
        log "sqlite3 query failed: sqlite3 $DB \"$2\": $(cat "$1.err")"
        : >"$1"
        return 0
    fi
}

run_pass() { # run_pass NAME VALIDATORS DESCRIPTION GEN_ARGS...
    local name=$1 mode=$2 desc=$3 dir=$T/run-$1 l0 t0 t1 rc=0 db_bytes=0 f
    shift 3
    mkdir -p "$dir"
    gen_pages "$dir/gen.json" "$@"
    set_validators "$mode"
    l0=$(log_lines)
    printf '\n=== pass %s (validators %s) %s ===\n' "$name" "$mode" "$(date -u +%FT%TZ)" | tee -a "$PLOG" >>"$T/palimpsest.stdout"
    log "pass $name: $desc"
    local wrapper=()
    ((PASS_TIMEOUT > 0)) && wrapper=(timeout --foreground -s INT -k 30 "$PASS_TIMEOUT")
    t0=$(date +%s%N)
    /usr/bin/time -v -o "$dir/time.txt" "${wrapper[@]}" \
        "$BIN" run --config "$CONFIG" --once --log-format json >>"$T/palimpsest.stdout" 2>>"$PLOG" || rc=$?
    t1=$(date +%s%N)
    sleep 0.2
    count_statuses "$l0" "$dir/status.txt"
    for f in "$DB" "$DB-wal"; do
        if [[ -f $f ]]; then db_bytes=$((db_bytes + $(stat -c %s "$f"))); fi
    done
    # sizes first: the sqlite3 CLI checkpoints the WAL when it closes
    sql "$dir/events.txt" "select kind, count(*) from events group by kind order by kind"
    sql "$dir/versions.txt" "select count(*) from versions"
    printf 'kind=pass\nname=%s\nvalidators=%s\ndescription=%s\nexit=%s\nwall_ns=%s\ndb_bytes=%s\ngen_ms=%s\n' \
        "$name" "$mode" "$desc" "$rc" "$((t1 - t0))" "$db_bytes" "$GEN_S" >"$dir/meta.txt"
    if ((rc != 0)); then
        FAILED_PASSES+=("$name")
        log "pass $name: palimpsest exited with status $rc (see $PLOG)"
    fi
    python3 "$SCRIPT_DIR/report.py" --n "$N" --line "$dir" >&2 || log "report.py could not summarise $dir"
}

FAILED_PASSES=()
if ((!BASELINE_ONLY)); then
    log "palimpsest: $BIN"
    run_pass 1 on "base pages, validators on: every page is new"
    run_pass 2a on "10% of pages get one article sentence rewritten; validators on" \
        --edit-fraction "$EDIT_FRACTION" --edit-seed 1
    run_pass 2b off "another 10% rewritten (on top of 2a, so 90% match the stored text); validators off" \
        --edit-fraction "$EDIT_FRACTION" --edit-seed 1 --edit-seed 2
    run_pass 3 off "every page's Related block and sidebar rotated, article text unchanged; validators off" \
        --edit-fraction "$EDIT_FRACTION" --edit-seed 1 --edit-seed 2 --rotate-boilerplate
fi

stop_nginx
REPORT_BIN=$BIN
((BASELINE_ONLY)) && REPORT_BIN=""
PALIMPSEST_BIN=$REPORT_BIN python3 "$SCRIPT_DIR/report.py" --n "$N" --workdir "$T" >"$T/results.md"
cat "$T/results.md"
if [[ $KEEP == 1 ]]; then
    log "results: $T/results.md   (work directory $T, $(du -sh "$T" | cut -f1); remove with: rm -rf '$T')"
else
    log "work directory $T ($(du -sh "$T" | cut -f1)) removed on exit; BENCH_KEEP=1 keeps it"
fi
if ((${#FAILED_PASSES[@]})); then
    log "palimpsest failed in pass(es): ${FAILED_PASSES[*]}; the table above marks them"
    exit 1
fi
