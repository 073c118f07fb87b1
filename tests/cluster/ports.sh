#!/usr/bin/env bash
# Port picking shared by the cluster test scripts (sourced).

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
