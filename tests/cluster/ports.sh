#!/usr/bin/env bash
# Ports for the cluster test scripts (sourced by lib.sh, test_bad_input.sh
# and test_tools.sh).

# A random port outside the kernel's ephemeral range (ip_local_port_range),
# from which every outgoing connection (ZeroMQ's between brokers included)
# takes its local port: a port picked there can be taken by a connection
# between the probe and the broker's bind, which then fails (seen in CI).
random_listen_port() {
    local lo=32768 hi=60999
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    if [ "$lo" -gt 12000 ]; then
        echo $((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
    else
        echo $((hi + 1 + (RANDOM * 32768 + RANDOM) % (65535 - hi)))
    fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True when the port is taken: something accepts on it, or ss sees a
# listener the probe could not reach (TIME-WAIT leftovers do not count:
# ZeroMQ binds with SO_REUSEADDR).
port_in_use() {
    port_open "$1" && return 0
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
    fi
    return 1
}

# Prints a port outside the ephemeral range that is not in use and not one
# of "$@". Probing cannot reserve it; a clash makes the broker fail to bind,
# which the start-up waits report.
pick_port() {
    local port used tries taken
    for ((tries = 0; tries < 200; tries++)); do
        port=$(random_listen_port)
        taken=0
        for used in "$@"; do
            [ "$used" = "$port" ] && taken=1
        done
        if [ $taken = 0 ] && ! port_in_use "$port"; then
            echo "$port"
            return 0
        fi
    done
    return 1
}
