/* raftmq-transport-bench: the round trip of bare ZeroMQ on 127.0.0.1, the floor under every request's latency. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench/bench.h"

/*
 * A DEALER sends a 40-byte message to a ROUTER on a free 127.0.0.1 port,
 * which sends it straight back from its own thread and ZeroMQ context (as
 * a broker would from its process): one request and one answer, with
 * nothing done in between. raftmq's requests take this path (client to
 * broker, and broker to broker), so a synchronous produce can never be
 * faster than two of these round trips (docs/benchmarks.md, "Where the
 * synchronous time goes").
 */

#define ROUND_TRIPS 20000
#define RUNS 5
#define MESSAGE_BYTES 40

struct echo {
    void *ctx;
    void *router;
    char endpoint[64];
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    for (;;) {
        zmq_msg_t id, msg;
        zmq_msg_init(&id);
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&id, e->router, 0) < 0 || zmq_msg_recv(&msg, e->router, 0) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&msg);
            zmq_close(e->router); /* the context is shutting down: the socket's thread closes it */
            return NULL;
        }
        zmq_msg_send(&id, e->router, ZMQ_SNDMORE);
        zmq_msg_send(&msg, e->router, 0);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        printf("usage: %s\nMeasures %d x %d ZeroMQ DEALER/ROUTER round trips of %d bytes on 127.0.0.1\n"
               "and prints the median p50 and p99 of the runs.\n",
               argv[0], RUNS, ROUND_TRIPS, MESSAGE_BYTES);
        return strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }
    struct echo e;
    e.ctx = zmq_ctx_new();
    e.router = zmq_socket(e.ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(e.router, ZMQ_LINGER, &zero, sizeof(zero));
    size_t len = sizeof(e.endpoint);
    if (zmq_bind(e.router, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(e.router, ZMQ_LAST_ENDPOINT, e.endpoint, &len) != 0) {
        fprintf(stderr, "raftmq-transport-bench: bind: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, echo_main, &e) != 0)
        return 1;
    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_connect(dealer, e.endpoint);
    static double us[ROUND_TRIPS];
    double p50[RUNS], p99[RUNS];
    char buf[MESSAGE_BYTES] = "ping";
    for (int run = 0; run < RUNS; run++) {
        for (int i = 0; i < ROUND_TRIPS; i++) {
            double t0 = bench_now_s();
            zmq_send(dealer, buf, sizeof buf, 0);
            zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&item, 1, 5000) != 1 || zmq_recv(dealer, buf, sizeof buf, 0) < 0) {
                fprintf(stderr, "raftmq-transport-bench: no echo within 5 s\n");
                return 1;
            }
            us[i] = (bench_now_s() - t0) * 1e6;
        }
        qsort(us, ROUND_TRIPS, sizeof(double), bench_compare_double);
        p50[run] = us[ROUND_TRIPS / 2];
        p99[run] = us[ROUND_TRIPS * 99 / 100];
        printf("run %d: round trip p50 %.0f us, p99 %.0f us\n", run + 1, p50[run], p99[run]);
    }
    printf("zeromq round trip on 127.0.0.1 (%d x %d, %d B): p50 %.0f us, p99 %.0f us (medians of the runs)\n",
           RUNS, ROUND_TRIPS, MESSAGE_BYTES, bench_median(p50, RUNS), bench_median(p99, RUNS));
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    zmq_ctx_shutdown(e.ctx); /* wakes the echo thread, which closes its socket */
    pthread_join(thread, NULL);
    zmq_ctx_term(e.ctx);
    return 0;
}
