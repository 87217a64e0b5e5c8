# Shell helpers shared by the benchmark scripts (compare.sh, tls.sh). Source it after defining
# say() and die(); wait_quiet reads QUIET_WAIT and QUIET_CORES; stop_server reads SERVER_PID and
# WORK (the server's log is $WORK/server.log).

port_busy() { ss -Hltn "sport = :$1" | grep -q .; }

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

# Waits (up to QUIET_WAIT s) until the rest of the machine uses less than QUIET_CORES cores.
wait_quiet() {
    [[ "$QUIET_WAIT" == 0 ]] && return 0
    local deadline=$((SECONDS + QUIET_WAIT)) hz a b cores
    hz=$(getconf CLK_TCK)
    while :; do
        a=$(busy_ticks); sleep 1; b=$(busy_ticks)
        cores=$(awk -v d=$((b - a)) -v hz="$hz" 'BEGIN{printf "%.2f", d/hz}')
        if awk -v c="$cores" -v q="$QUIET_CORES" 'BEGIN{exit !(c < q)}'; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            say "warning: other processes keep $cores cores busy; measuring anyway"
            return 0
        fi
        sleep 2
    done
}

# Stops the server started last (TERM, then KILL after 5 s) and shows errors from its log.
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        if grep -qiE "panic|error" "$WORK/server.log"; then
            say "server log of the last run mentions errors:"
            grep -iE "panic|error" "$WORK/server.log" | head -5 >&2
        fi
    fi
    SERVER_PID=""
}

# Number formatting for the tables: fmt VALUE [DIGITS], ratio A B (n/a when either is missing).
fmt() { awk -v x="$1" -v d="${2:-2}" 'BEGIN{ if (x == "") print "n/a"; else printf "%.*f", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# --- goal tables (goals.sh, cluster.sh) -----------------------------------------------------
val() { # val NAME JQ-PATH -> a result's value, or empty ($OUT_DIR/NAME.json)
    local f="$OUT_DIR/$1.json"
    [[ -s "$f" ]] || return 0
    jq -r "($2) // empty" "$f" 2>/dev/null || true
}
# met VALUE OP GOAL -> yes / **no** / n/a
met() {
    awk -v x="$1" -v op="$2" -v g="$3" 'BEGIN {
        if (x == "" || x == "n/a") { print "n/a"; exit }
        ok = (op == "ge") ? (x + 0 >= g + 0) : (x + 0 <= g + 0)
        print (ok ? "yes" : "**no**") }'
}
both() { # both A B -> yes if both are yes, n/a if either is n/a
    if [[ "$1" == n/a || "$2" == n/a ]]; then echo n/a
    elif [[ "$1" == yes && "$2" == yes ]]; then echo yes
    else echo "**no**"; fi
}
