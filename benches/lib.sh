# Shell helpers shared by the benchmark scripts (compare.sh, tls.sh). Source it after defining
# say() and die(); wait_quiet reads QUIET_WAIT and QUIET_CORES.

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

# Number formatting for the tables: fmt VALUE [DIGITS], ratio A B (n/a when either is missing).
fmt() { awk -v x="$1" -v d="${2:-2}" 'BEGIN{ if (x == "") print "n/a"; else printf "%.*f", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
