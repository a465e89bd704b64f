#!/usr/bin/env bash
# Multi-host tests of the `swim` agent in Linux network namespaces (issue 7).
#
# N hosts (network namespaces swimt-h0..), each with one veth "eth0" plugged
# into a bridge that lives in its own namespace (swimt-br). One `swim agent`
# per host. Faults are nftables rules in a bridge-family table inside the
# bridge namespace. Checks:
#   1. join by address and by host name (/etc/netns/<ns>/hosts), all see all
#   2. kill -9 one agent: every other reports it failed within the bound
#   3. SIGSTOP past the suspicion timeout, SIGCONT: it refutes, Alive everywhere
#   4. 20% random loss on the bridge for 60 s: no live agent reported failed
#   5. bridge split in two halves for 30 s: each side reports the other
#      failed; after healing the cluster re-merges without a restart
#   6. SIGTERM: reported left, never failed; the agent exits 0
#   7. the join check over IPv6 (ULA addresses, nodad)
# and prints a timing table.
#
# Runs as root; skips (exit 0) when not root or when `ip netns` is
# unavailable. Needs iproute2 and nftables. All traffic stays inside the
# namespaces created here: every command that touches their addresses runs
# through `ip netns exec`. Everything is torn down on exit, also on failure,
# and leftovers of an aborted earlier run are removed first.
#
# Environment:
#   SWIM_BIN        use this agent binary instead of building one
#   SWIMT_HOSTS     number of hosts, 6..10 (default 8)
#   SWIMT_PROFILE   lan | local (default lan)
#   SWIMT_LOSS_SECS length of the loss phase (default 60)
#   SWIMT_SPLIT_SECS length of the partition (default 30)
#   SWIMT_LOSS_UDP_ONLY=1  drop only UDP frames in the loss phase (a
#                   diagnostic: by default every frame, ARP too, is lossy)
#   SWIMT_KEEP_LOGS keep the log directory even when every check passed
set -uo pipefail

PREFIX=swimt
BRNS=$PREFIX-br
N=${SWIMT_HOSTS:-8}
PROFILE=${SWIMT_PROFILE:-lan}
LOSS_SECS=${SWIMT_LOSS_SECS:-60}
SPLIT_SECS=${SWIMT_SPLIT_SECS:-30}
PORT4=7946
PORT6=7947
NET4=10.251.77     # inside the namespaces only
NET6=fd00:5717:77: # ULA, inside the namespaces only

say() { printf '%s\n' "$*"; }
skip() { say "SKIP netns tests: $*"; exit 0; }
die() { say "ERROR: $*" >&2; exit 2; }

# ---------------------------------------------------------------- preflight

[ "$(id -u)" = 0 ] || skip "not root (network namespaces need CAP_NET_ADMIN; run as root)"
command -v ip >/dev/null 2>&1 || skip "iproute2 'ip' not found"
if ! ip netns list >/dev/null 2>&1; then skip "'ip netns' unavailable"; fi
probe_ns=$PREFIX-probe-$$
if ! ip netns add "$probe_ns" 2>/dev/null; then skip "cannot create a network namespace (ip netns add failed)"; fi
ip netns del "$probe_ns"
command -v nft >/dev/null 2>&1 || die "nft not found: apt-get install -y nftables"
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 6 ] && [ "$N" -le 10 ] || die "SWIMT_HOSTS must be 6..10"

# One run at a time: the names below are fixed, and the start-up cleanup
# would tear down a concurrent run. A pid file rather than flock: a lock fd
# would be inherited by the agents and outlive an aborted run.
PIDFILE=/run/$PREFIX.pid
other=$(cat "$PIDFILE" 2>/dev/null)
if [ -n "$other" ] && [ "$other" != $$ ] && kill -0 "$other" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$other/cmdline" 2>/dev/null | grep -q 'netns/run.sh'; then
    die "another netns test run (pid $other) is in progress"
fi
echo $$ >"$PIDFILE" || die "cannot write $PIDFILE"

cd "$(dirname "$0")/../.." || die "cannot cd to the workspace"

if [ -n "${SWIM_BIN:-}" ]; then
    BIN=$SWIM_BIN
else
    say "== building: cargo build -p swim-agent --bin swim"
    cargo build -q -p swim-agent --bin swim || die "cargo build failed"
    tdir=$(cargo metadata --no-deps --format-version 1 | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
    BIN=$tdir/debug/swim
fi
[ -x "$BIN" ] || die "agent binary not found: $BIN"
BIN=$(readlink -f "$BIN")

# Timer presets (swim_core::Config::lan() / local()): probe interval T,
# suspicion α and β, push-pull sync interval.
case $PROFILE in
    lan) T=1.0 ALPHA=0.75 BETA=6.0 SYNC=30 ;;
    local) T=0.2 ALPHA=2.0 BETA=6.0 SYNC=5 ;;
    *) die "SWIMT_PROFILE must be lan or local" ;;
esac

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/$PREFIX.XXXXXX") || die "mktemp failed"
declare -a PID=() ADDR=()
FAILED=0
RESULTS=()   # timing table rows: "name|measured|bound"

# ---------------------------------------------------------------- teardown

ours() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX-" || true; }

teardown() {
    local p ns
    for p in "${PID[@]}"; do
        [ -n "$p" ] && kill -0 "$p" 2>/dev/null && { kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; }
    done
    # Anything still running inside our namespaces (e.g. from an aborted run).
    for ns in $(ours); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    wait 2>/dev/null
    ip netns exec "$BRNS" nft delete table bridge $PREFIX 2>/dev/null
    for ns in $(ours); do ip netns del "$ns" 2>/dev/null; done
    rm -rf /etc/netns/$PREFIX-*
}

on_exit() {
    local rc=$?
    teardown
    [ "$(cat "$PIDFILE" 2>/dev/null)" = $$ ] && rm -f "$PIDFILE"
    local left; left=$(ours)
    [ -z "$left" ] || say "WARNING: namespaces left behind: $left"
    if [ "$rc" = 0 ] && [ -z "${SWIMT_KEEP_LOGS:-}" ]; then
        rm -rf "$LOGDIR"
    else
        say "logs kept in $LOGDIR"
    fi
    exit "$rc"
}

if [ -n "$(ours)" ] || compgen -G "/etc/netns/$PREFIX-*" >/dev/null; then
    say "== removing leftovers of an earlier run: $(ours | tr '\n' ' ')"
fi
teardown
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers

now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a-b}'; }
fle() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a<=b)}'; }
fmax() { awk 'NR==1||$1>m{m=$1} END{print m}'; }
fmin() { awk 'NR==1||$1<m{m=$1} END{print m}'; }

# ev I [FROM]: "ts event member" for every JSON line agent I printed after
# line FROM (no jq: the agent prints flat JSON objects, keys in any order).
ev() {
    tail -n +$((${2:-0} + 1)) "$LOGDIR/h$1.out" 2>/dev/null | awk '{
        e = ""; m = ""; t = ""
        if (match($0, /"event":"[a-z]+"/)) e = substr($0, RSTART + 9, RLENGTH - 10)
        if (match($0, /"member":"[^"]+"/)) m = substr($0, RSTART + 10, RLENGTH - 11)
        if (match($0, /"ts":[0-9.]+/)) t = substr($0, RSTART + 5, RLENGTH - 5)
        if (e != "" && m != "") print t, e, m
    }'
}

# view I: "member state" as agent I last reported it (alive|suspect|failed|left).
view() {
    ev "$1" | awk '$2 != "message" { s[$3] = $2 }
        END { for (m in s) { x = s[m]
            if (x == "joined" || x == "updated") x = "alive"
            else if (x == "suspected") x = "suspect"
            print m, x } }'
}

declare -a MARK=()
mark() { local i; for ((i = 0; i < N; i++)); do MARK[i]=$(wc -l <"$LOGDIR/h$i.out" 2>/dev/null || echo 0); done; }

# states WANT "OBSERVERS" "MEMBERS": every observer reports every other
# member in state WANT. Leaves the mismatches in $MISMATCH.
MISMATCH=""
states() {
    local want=$1 o m st bad=""
    for o in $2; do
        declare -A s=()
        while read -r mm ss; do [ -n "$mm" ] && s[$mm]=$ss; done < <(view "$o")
        for m in $3; do
            [ "$m" = "$o" ] && continue
            st=${s[${ADDR[m]}]:-none}
            [ "$st" = "$want" ] || bad+=" h$o:h$m=$st"
        done
        unset s
    done
    MISMATCH=$bad
    [ -z "$bad" ]
}

# wait_for SECS CMD...: poll CMD every 0.1 s; 0 once it holds, 1 at timeout.
wait_for() {
    local deadline; deadline=$(awk -v n="$(now)" -v s="$1" 'BEGIN{printf "%.3f", n+s}')
    shift
    while :; do
        "$@" && return 0
        fle "$deadline" "$(now)" && return 1
        sleep 0.1
    done
}

# first_ts I EVENT J: first time agent I printed EVENT for member J since the mark.
first_ts() { ev "$1" "${MARK[$1]}" | awk -v e="$2" -v m="${ADDR[$3]}" '$2 == e && $3 == m { print $1; exit }'; }
# count EVENT "OBSERVERS" "MEMBERS": how many EVENT lines since the mark.
count() {
    local o m total=0 c
    for o in $2; do
        for m in $3; do
            [ "$m" = "$o" ] && continue
            c=$(ev "$o" "${MARK[$o]}" | awk -v e="$1" -v m="${ADDR[$m]}" '$2 == e && $3 == m' | wc -l)
            total=$((total + c))
        done
    done
    echo "$total"
}
# who_said EVENT "OBSERVERS" "MEMBERS": "hI:hJ" pairs with EVENT since the mark.
who_said() {
    local o m out=""
    for o in $2; do
        for m in $3; do
            [ "$m" = "$o" ] && continue
            [ -n "$(ev "$o" "${MARK[$o]}" | awk -v e="$1" -v m="${ADDR[$m]}" '$2 == e && $3 == m')" ] && out+=" h$o:h$m"
        done
    done
    echo "$out"
}
# span EVENT "OBSERVERS" J T0 first|last: seconds from T0 to the first/last
# observer's first EVENT about J.
span() {
    local o t list=""
    for o in $2; do
        [ "$o" = "$3" ] && continue
        t=$(first_ts "$o" "$1" "$3")
        [ -n "$t" ] && list+="$t"$'\n'
    done
    [ -z "$list" ] && { echo "-"; return; }
    if [ "$5" = first ]; then t=$(printf '%s' "$list" | fmin); else t=$(printf '%s' "$list" | fmax); fi
    fsub "$t" "$4"
}

pass() { say "  PASS: $*"; }
# A join that took over 2 s relied on push-pull: some agent missed every
# gossiped copy of a newer member's arrival (see README.md).
slow_join() {
    fle "$(fsub "$1" "$2")" 2 || say "  NOTE: join converged only after $(fsub "$1" "$2") s (a member missed the join gossip; push-pull sync repaired it)"
}
fail() {
    say "  FAIL: $*"
    FAILED=$((FAILED + 1))
}
row() { RESULTS+=("$1|$2|$3"); }
without() { local x out=""; for x in $1; do [ "$x" = "$2" ] || out+="$x "; done; echo "$out"; }

# Show what the agents printed when something went wrong.
evidence() {
    local i
    for i in $1; do
        say "  --- h$i (${ADDR[i]}) view:"
        view "$i" | sort | sed 's/^/      /'
        say "  --- h$i last events:"
        ev "$i" | tail -n 8 | sed 's/^/      /'
    done
}

# members I: the control socket's table of agent I ("addr state" rows).
members() { ip netns exec "$PREFIX-h$1" "$BIN" members --control "$LOGDIR/h$1.sock" 2>/dev/null | awk 'NR > 1 { print $1, $2 }'; }
# tables_ok "OBSERVERS" "ALIVE" ["FAILED"]: every member table lists ALIVE
# as alive (and FAILED as failed).
tables_ok() {
    local o m st bad=""
    for o in $1; do
        declare -A s=()
        while read -r mm ss; do [ -n "$mm" ] && s[$mm]=$ss; done < <(members "$o")
        for m in $2; do st=${s[${ADDR[m]}]:-none}; [ "$st" = alive ] || bad+=" h$o:h$m=$st"; done
        for m in ${3:-}; do st=${s[${ADDR[m]}]:-none}; [ "$st" = failed ] || bad+=" h$o:h$m=$st"; done
        unset s
    done
    MISMATCH=$bad
    [ -z "$bad" ]
}

# start I BIND [JOIN...]: run agent I in its namespace.
start() {
    local i=$1 bind=$2
    shift 2
    local args=(agent --bind "$bind" --profile "$PROFILE" --meta "host=h$i" --control "$LOGDIR/h$i.sock")
    local j; for j in "$@"; do args+=(--join "$j"); done
    rm -f "$LOGDIR/h$i.sock"
    RUST_LOG=${RUST_LOG:-info} ip netns exec "$PREFIX-h$i" "$BIN" "${args[@]}" >>"$LOGDIR/h$i.out" 2>>"$LOGDIR/h$i.err" &
    PID[i]=$!
}

# stop_agent I: SIGTERM, wait up to 10 s, return its exit status (124: hung).
stop_agent() {
    local i=$1 k
    kill -TERM "${PID[i]}" 2>/dev/null
    for ((k = 0; k < 100; k++)); do kill -0 "${PID[i]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${PID[i]}" 2>/dev/null; then kill -KILL "${PID[i]}"; wait "${PID[i]}" 2>/dev/null; PID[i]=""; return 124; fi
    wait "${PID[i]}"
    local rc=$?
    PID[i]=""
    return $rc
}

nft_br() { ip netns exec "$BRNS" nft "$@"; }

# ---------------------------------------------------------------- topology

say "== topology: $N hosts on a bridge in namespace $BRNS (profile $PROFILE, agent $BIN)"
ALL=""
for ((i = 0; i < N; i++)); do ALL+="$i "; done

ip netns add "$BRNS" || die "ip netns add $BRNS"
ip -n "$BRNS" link set lo up
ip -n "$BRNS" link add "$PREFIX-br0" type bridge || die "bridge"
# No IPv6 on the bridge itself: it forwards, it never talks.
ip netns exec "$BRNS" sh -c "echo 1 > /proc/sys/net/ipv6/conf/$PREFIX-br0/disable_ipv6" 2>/dev/null
ip -n "$BRNS" link set "$PREFIX-br0" up

hosts_file="127.0.0.1 localhost
::1 localhost ip6-localhost"
for ((i = 0; i < N; i++)); do
    hosts_file+=$'\n'"$NET4.$((i + 1)) $PREFIX-h$i"$'\n'"$NET6:$((i + 1)) $PREFIX-h$i"
done
for ((i = 0; i < N; i++)); do
    ns=$PREFIX-h$i
    ip netns add "$ns" || die "ip netns add $ns"
    ip link add "$PREFIX-p$i" netns "$BRNS" type veth peer name eth0 netns "$ns" || die "veth $i"
    ip -n "$BRNS" link set "$PREFIX-p$i" master "$PREFIX-br0" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$NET4.$((i + 1))/24" dev eth0
    ip -n "$ns" addr add "$NET6:$((i + 1))/64" dev eth0 nodad
    ip -n "$ns" link set eth0 up
    # `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts.
    mkdir -p "/etc/netns/$ns"
    printf '%s\n' "$hosts_file" >"/etc/netns/$ns/hosts"
done
nft_br -f - <<EOF || die "nft table"
table bridge $PREFIX {
    chain forward {
        type filter hook forward priority 0; policy accept;
    }
}
EOF

# Bound for "every survivor reports a crashed member failed", from the
# profile (see README.md): a survivor probes every other member once per
# pass of n-1 protocol periods, so its next probe of the victim comes within
# 2(n-1)-1 periods; the probe (direct + indirect) takes one period; the
# suspicion timeout is at most β·α·max(1, log10 n)·T; the Failed notice
# reaches everyone within one more period (5 gossip rounds to 3 members).
# Plus 1 s for process scheduling of debug builds on a shared machine.
DETECT_BOUND=$(awk -v n="$N" -v T="$T" -v a="$ALPHA" -v b="$BETA" 'BEGIN{
    l = log(n) / log(10); if (l < 1) l = 1
    printf "%.1f", (2 * (n - 1) - 1) * T + T + b * a * l * T + T + 1 }')
# Join: a joiner learns the members its seed knows at once and later ones
# by gossip (each update is piggybacked λ·⌈log10(n+1)⌉ = 8 times per node);
# one that missed every copy learns them at its first push-pull sync, due
# 0.5..1.5 sync intervals after start, or when another member syncs with it.
JOIN_BOUND=$(awk -v s="$SYNC" 'BEGIN{printf "%.1f", 1.5 * s + 2}')
HEAL_BOUND=30

# ---------------------------------------------------------------- 1. join (IPv4)

say "== 1. join over IPv4: h1..h$(((N - 1) / 2)) by address $NET4.1:$PORT4, the rest by name $PREFIX-h0:$PORT4"
for ((i = 0; i < N; i++)); do ADDR[i]="$NET4.$((i + 1)):$PORT4"; : >"$LOGDIR/h$i.out"; done
mark
t0=$(now)
start 0 "${ADDR[0]}"
for ((i = 1; i < N; i++)); do
    if [ "$i" -le $(((N - 1) / 2)) ]; then start "$i" "${ADDR[i]}" "${ADDR[0]}"; else start "$i" "${ADDR[i]}" "$PREFIX-h0:$PORT4"; fi
done
if wait_for $JOIN_BOUND states alive "$ALL" "$ALL"; then
    tj=$(for i in $ALL; do for j in $ALL; do [ "$i" != "$j" ] && first_ts "$i" joined "$j"; done; done | fmax)
    pass "every agent sees all $N alive after $(fsub "$tj" "$t0") s"
    slow_join "$tj" "$t0"
    row "join, $N agents, IPv4 (start → all see all)" "$(fsub "$tj" "$t0") s" "$JOIN_BOUND s"
else
    fail "not everyone sees everyone after $JOIN_BOUND s:$MISMATCH"
    evidence "$ALL"
    row "join, $N agents, IPv4" "FAILED" "$JOIN_BOUND s"
fi
if wait_for 5 tables_ok "$ALL" "$ALL"; then pass "every member table (swim members) lists all $N alive"; else fail "member tables:$MISMATCH"; fi

# ---------------------------------------------------------------- 2. kill -9

LIVE=$ALL
V=$((N - 1))
say "== 2. kill -9 h$V: every other agent reports it failed within $DETECT_BOUND s"
mark
t0=$(now)
kill -KILL "${PID[V]}"
wait "${PID[V]}" 2>/dev/null
PID[V]=""
LIVE=$(without "$LIVE" $V)
if wait_for "$DETECT_BOUND" states failed "$LIVE" "$V"; then
    pass "all $((N - 1)) survivors report h$V failed"
    row "kill -9: first suspected" "$(span suspected "$LIVE" $V "$t0" first) s" ""
    row "kill -9: first failed" "$(span failed "$LIVE" $V "$t0" first) s" ""
    row "kill -9: failed at every survivor" "$(span failed "$LIVE" $V "$t0" last) s" "$DETECT_BOUND s"
else
    fail "after $DETECT_BOUND s not every survivor reports h$V failed:$MISMATCH"
    evidence "$LIVE"
    row "kill -9: failed at every survivor" "FAILED" "$DETECT_BOUND s"
fi
if states alive "$LIVE" "$LIVE"; then pass "no survivor holds another survivor non-alive"; else fail "survivors disagree:$MISMATCH"; fi
fp=$(who_said failed "$LIVE" "$LIVE")
[ -z "$fp" ] && pass "no false failure" || fail "live members reported failed:$fp"

# ---------------------------------------------------------------- 3. SIGSTOP / SIGCONT

S=$((N - 2))
OTHERS=$(without "$LIVE" $S)
say "== 3. SIGSTOP h$S until everyone declared it failed, then SIGCONT: it refutes"
mark
t0=$(now)
kill -STOP "${PID[S]}"
if wait_for "$DETECT_BOUND" states failed "$OTHERS" "$S"; then
    pass "everyone declared the paused h$S failed"
    row "SIGSTOP: failed at every other agent" "$(span failed "$OTHERS" $S "$t0" last) s" "$DETECT_BOUND s"
else
    fail "after $DETECT_BOUND s not everyone declared the paused h$S failed:$MISMATCH"
    evidence "$OTHERS"
fi
sleep 1
mark
t1=$(now)
kill -CONT "${PID[S]}"
if wait_for $HEAL_BOUND states alive "$LIVE" "$LIVE"; then
    pass "h$S refuted: every agent (h$S included) sees all $((N - 1)) live agents alive"
    row "SIGCONT → alive at every agent" "$(span alive "$OTHERS" $S "$t1" last) s" "$HEAL_BOUND s"
else
    fail "after SIGCONT + $HEAL_BOUND s:$MISMATCH"
    evidence "$LIVE"
    row "SIGCONT → alive at every agent" "FAILED" "$HEAL_BOUND s"
fi
# The core reports a failed member that comes back as `alive` (not `joined`).
said_joined=$(who_said joined "$OTHERS" "$S")
said_alive=$(who_said alive "$OTHERS" "$S")
[ -z "$said_joined" ] && pass "nobody printed joined for h$S" || fail "printed joined (expected alive) for the refuting h$S:$said_joined"
missing=""
for o in $OTHERS; do [[ " $said_alive " == *" h$o:h$S "* ]] || missing+=" h$o"; done
[ -z "$missing" ] && pass "every other agent printed alive for h$S" || fail "no alive event for h$S at:$missing"
fp=$(who_said failed "$LIVE" "$OTHERS")
[ -z "$fp" ] && pass "no agent declared a running agent failed" || fail "running agents reported failed:$fp"
if wait_for 5 tables_ok "$LIVE" "$LIVE" "$V"; then pass "member tables: live agents alive, h$V failed"; else fail "member tables:$MISMATCH"; fi

# ---------------------------------------------------------------- 4. 20% loss

say "== 4. 20% random loss on the bridge for $LOSS_SECS s: no live agent reported failed"
mark
loss_match=()
[ -n "${SWIMT_LOSS_UDP_ONLY:-}" ] && loss_match=(meta l4proto udp)
nft_br add rule bridge $PREFIX forward "${loss_match[@]}" numgen random mod 100 '<' 20 counter drop comment '"loss"' || die "nft loss rule"
sleep "$LOSS_SECS"
handle=$(nft_br -a list chain bridge $PREFIX forward | awk '/"loss"/ { for (k = 1; k < NF; k++) if ($k == "handle") print $(k + 1) }')
drops=$(nft_br list chain bridge $PREFIX forward | awk '/"loss"/ { for (k = 1; k < NF; k++) if ($k == "packets") print $(k + 1) }')
nft_br delete rule bridge $PREFIX forward handle "$handle" || die "nft delete loss rule"
say "  frames dropped by the loss rule: ${drops:-?}"
[ "${drops:-0}" -gt 0 ] || fail "the loss rule dropped nothing (is the bridge filtering?)"
# Suspicions raised during the loss must still be refuted: give them the
# longest suspicion timeout plus a few periods.
settle=$(awk -v T="$T" -v a="$ALPHA" -v b="$BETA" 'BEGIN{printf "%.1f", b * a * T + 5 * T}')
sleep "$settle"
susp=$(count suspected "$LIVE" "$LIVE")
refut=$(count alive "$LIVE" "$LIVE")
fp=$(who_said failed "$LIVE" "$LIVE")
[ -z "$fp" ] && pass "no live agent reported failed ($susp suspicions, $refut alive again)" || { fail "live agents reported failed under 20% loss:$fp"; evidence "$LIVE"; }
if wait_for 10 states alive "$LIVE" "$LIVE"; then pass "all live agents alive everywhere afterwards"; else fail "after the loss:$MISMATCH"; fi
row "20% loss, ${LOSS_SECS} s: false failures" "$(echo "$fp" | wc -w)" "0"
row "20% loss, ${LOSS_SECS} s: suspicions / refuted" "$susp / $refut" ""

# ---------------------------------------------------------------- 5. partition

HALF=$((N / 2))
SIDE_A="" SIDE_B="" PORTS_A="" PORTS_B=""
for i in $LIVE; do
    if [ "$i" -lt "$HALF" ]; then SIDE_A+="$i "; PORTS_A+="\"$PREFIX-p$i\", "; else SIDE_B+="$i "; PORTS_B+="\"$PREFIX-p$i\", "; fi
done
PORTS_A="{ ${PORTS_A%, } }" PORTS_B="{ ${PORTS_B%, } }"
say "== 5. split the bridge for $SPLIT_SECS s: {$SIDE_A} | {$SIDE_B}, then heal"
mark
t0=$(now)
nft_br add rule bridge $PREFIX forward iifname "$PORTS_A" oifname "$PORTS_B" counter drop comment '"split"' || die "nft split rule"
nft_br add rule bridge $PREFIX forward iifname "$PORTS_B" oifname "$PORTS_A" counter drop comment '"split"' || die "nft split rule"
split_ok() { states failed "$SIDE_A" "$SIDE_B" && states failed "$SIDE_B" "$SIDE_A"; }
if wait_for "$SPLIT_SECS" split_ok; then
    t=$(for o in $SIDE_A; do for m in $SIDE_B; do first_ts "$o" failed "$m"; done; done
        for o in $SIDE_B; do for m in $SIDE_A; do first_ts "$o" failed "$m"; done; done)
    t=$(printf '%s\n' "$t" | fmax)
    pass "each side reports the whole other side failed after $(fsub "$t" "$t0") s"
    row "split: each side holds the other failed" "$(fsub "$t" "$t0") s" "$SPLIT_SECS s"
else
    fail "after $SPLIT_SECS s of partition:$MISMATCH"
    evidence "$LIVE"
    row "split: each side holds the other failed" "FAILED" "$SPLIT_SECS s"
fi
rest=$(awk -v a="$t0" -v s="$SPLIT_SECS" -v n="$(now)" 'BEGIN{r = a + s - n; if (r < 0) r = 0; printf "%.2f", r}')
sleep "$rest"
side_ok() { states alive "$SIDE_A" "$SIDE_A" && states alive "$SIDE_B" "$SIDE_B"; }
if side_ok; then pass "within each side everyone stayed alive"; else fail "within a side:$MISMATCH"; fi
say "  healing"
mark
t1=$(now)
for h in $(nft_br -a list chain bridge $PREFIX forward | awk '/"split"/ { for (k = 1; k < NF; k++) if ($k == "handle") print $(k + 1) }'); do
    nft_br delete rule bridge $PREFIX forward handle "$h" || die "nft delete split rule"
done
if wait_for $HEAL_BOUND states alive "$LIVE" "$LIVE"; then
    t=$(for o in $SIDE_A; do for m in $SIDE_B; do first_ts "$o" alive "$m"; first_ts "$o" joined "$m"; done; done
        for o in $SIDE_B; do for m in $SIDE_A; do first_ts "$o" alive "$m"; first_ts "$o" joined "$m"; done; done)
    t=$(printf '%s\n' "$t" | grep . | fmax)
    pass "re-merged without a restart: everyone sees everyone alive $(fsub "$t" "$t1") s after healing"
    row "heal: everyone sees everyone alive" "$(fsub "$t" "$t1") s" "$HEAL_BOUND s"
else
    fail "not re-merged $HEAL_BOUND s after healing:$MISMATCH"
    evidence "$LIVE"
    row "heal: everyone sees everyone alive" "FAILED" "$HEAL_BOUND s"
fi
said_joined=$(who_said joined "$LIVE" "$LIVE")
[ -z "$said_joined" ] && pass "re-merge reported as alive, not joined" || fail "printed joined (expected alive) for members held failed:$said_joined"
for r in $(nft_br -a list chain bridge $PREFIX forward | grep -c drop); do [ "$r" = 0 ] || die "rules left in the bridge table"; done

# ---------------------------------------------------------------- 6. graceful leave

L=$((N - 3))
OTHERS=$(without "$LIVE" $L)
say "== 6. SIGTERM h$L: reported left, never failed"
mark
t0=$(now)
stop_agent "$L"
rc=$?
[ "$rc" = 0 ] && pass "h$L exited 0 after SIGTERM" || fail "h$L exit status $rc after SIGTERM"
if wait_for 10 states left "$OTHERS" "$L"; then
    pass "every other agent reports h$L left"
    row "SIGTERM: left at every other agent" "$(span left "$OTHERS" $L "$t0" last) s" "10 s"
else
    fail "not every agent reports h$L left:$MISMATCH"
    evidence "$OTHERS"
    row "SIGTERM: left at every other agent" "FAILED" "10 s"
fi
sleep "$(awk -v T="$T" 'BEGIN{print 3 * T}')"
fp=$(who_said failed "$OTHERS" "$L")
[ -z "$fp" ] && pass "nobody reported h$L failed" || fail "h$L reported failed after a graceful leave:$fp"
LIVE=$OTHERS

say "  stopping the IPv4 agents"
for i in $LIVE; do stop_agent "$i" || fail "h$i exit status $? after SIGTERM"; done

# ---------------------------------------------------------------- 7. join (IPv6)

say "== 7. join over IPv6: h1..h$(((N - 1) / 2)) by address [${NET6}:1]:$PORT6, the rest by name $PREFIX-h0:$PORT6"
for ((i = 0; i < N; i++)); do
    ADDR[i]="[$NET6:$((i + 1))]:$PORT6"
    mv "$LOGDIR/h$i.out" "$LOGDIR/h$i.v4.out"
    : >"$LOGDIR/h$i.out"
done
mark
t0=$(now)
start 0 "${ADDR[0]}"
for ((i = 1; i < N; i++)); do
    if [ "$i" -le $(((N - 1) / 2)) ]; then start "$i" "${ADDR[i]}" "${ADDR[0]}"; else start "$i" "${ADDR[i]}" "$PREFIX-h0:$PORT6"; fi
done
if wait_for $JOIN_BOUND states alive "$ALL" "$ALL"; then
    tj=$(for i in $ALL; do for j in $ALL; do [ "$i" != "$j" ] && first_ts "$i" joined "$j"; done; done | fmax)
    pass "every agent sees all $N alive over IPv6 after $(fsub "$tj" "$t0") s"
    slow_join "$tj" "$t0"
    row "join, $N agents, IPv6 (start → all see all)" "$(fsub "$tj" "$t0") s" "$JOIN_BOUND s"
else
    fail "IPv6: not everyone sees everyone after $JOIN_BOUND s:$MISMATCH"
    evidence "$ALL"
    row "join, $N agents, IPv6" "FAILED" "$JOIN_BOUND s"
fi
if wait_for 5 tables_ok "$ALL" "$ALL"; then pass "every IPv6 member table lists all $N alive"; else fail "IPv6 member tables:$MISMATCH"; fi
for i in $ALL; do stop_agent "$i" || fail "h$i (IPv6) exit status $? after SIGTERM"; done

# ---------------------------------------------------------------- report

say ""
say "== timings ($N hosts, profile $PROFILE, $(basename "$(dirname "$BIN")") build)"
printf '%-48s %12s %10s\n' "what" "measured" "bound"
for r in "${RESULTS[@]}"; do
    IFS='|' read -r a b c <<<"$r"
    printf '%-48s %12s %10s\n' "$a" "$b" "$c"
done
say ""
if [ "$FAILED" -gt 0 ]; then
    say "netns tests: $FAILED check(s) FAILED"
    exit 1
fi
say "netns tests: all checks passed"
exit 0
