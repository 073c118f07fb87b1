/*
 * raftmq-sim: runs the Raft core under the deterministic simulator.
 *
 *   raftmq-sim --seeds N [--seed S] [--nodes 3|5] [--steps M] [--verbose]
 *   raftmq-sim --election-trials T [--seed S] [--nodes 3|5]
 *
 * Seeds S..S+N-1 each run a fault phase of M events and a liveness phase.
 * A failing seed prints what was violated, its fault mix, the last events and
 * the command that replays it; the run goes on with the next seed. The last
 * line is always "seeds=N events=E violations=V"; the exit status is 1 if V
 * is not 0. An assertion failure (SIGABRT) inside the core counts as a
 * violation of the seed that caused it.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static sigjmp_buf abort_jump;
static volatile sig_atomic_t abort_armed;

static void on_abort(int sig)
{
    (void)sig;
    if (abort_armed) {
        abort_armed = 0;
        siglongjmp(abort_jump, 1);
    }
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

/* Runs fn(arg); true if the core aborted inside it (the abort is caught). */
static bool guarded(void (*fn)(void *), void *arg)
{
    abort_armed = 1;
    if (sigsetjmp(abort_jump, 1) != 0)
        return true;
    fn(arg);
    abort_armed = 0;
    return false;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: raftmq-sim --seeds N [--seed S] [--nodes 3|5] [--steps M] [--verbose]\n"
            "       raftmq-sim --election-trials T [--seed S] [--nodes 3|5]\n"
            "\n"
            "  --seeds N            run seeds S..S+N-1 (default S=1)\n"
            "  --seed S             first seed\n"
            "  --nodes 3|5          initial voters (default: 3 for odd seeds, 5 for even)\n"
            "  --steps M            events in each seed's fault phase (default 10000)\n"
            "  --verbose            print every trace record as it happens\n"
            "  --swarm              print each seed's fault mix\n"
            "  --no-vote-checks     turn off the checks on votes (to show the other checkers\n"
            "                       catch a double vote too)\n"

            "  --no-torn-writes     a crash never lands part of the pending writes (by\n"
            "                       default it may land a random prefix of them, e.g. an\n"
            "                       update's entries without its hard state)\n"
            "  --election-trials T  leader election benchmark: T leader crashes per cluster\n"
            "                       size (1 tick = 1 ms, default timeouts, 1 ms delay)\n"
            "\n"
            "The last line is \"seeds=N events=E violations=V\"; the exit status is 1 on\n"
            "any violation. A failing seed prints the command that replays it.\n");
}

static bool parse_u64(const char *arg, const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-') {
        fprintf(stderr, "raftmq-sim: %s needs a non-negative number\n", arg);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        fprintf(stderr, "raftmq-sim: %s: '%s' is not a number\n", arg, s);
        return false;
    }
    *out = v;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_stats(const char *what, uint64_t *v, uint64_t n, uint64_t failed)
{
    if (n == 0) {
        printf("  %-28s no trials completed\n", what);
        return;
    }
    qsort(v, n, sizeof *v, cmp_u64);
    uint64_t p99 = v[(n * 99 + 99) / 100 - 1 < n ? (n * 99 + 99) / 100 - 1 : n - 1];
    printf("  %-28s median %6.1f ms  p99 %6.1f ms  max %6.1f ms  min %6.1f ms (%" PRIu64
           " trials, %" PRIu64 " failed)\n",
           what, v[(n - 1) / 2] / 1000.0, p99 / 1000.0, v[n - 1] / 1000.0, v[0] / 1000.0, n,
           failed);
}

/* Runs s until cond(s) or `limit_us` of simulated time passes. */
static bool run_until(struct sim *s, uint64_t limit_us, bool (*cond)(struct sim *))
{
    uint64_t deadline = s->now + limit_us;
    while (!s->violated && !cond(s)) {
        if (s->heap_n == 0 || s->heap[0].t > deadline)
            return false;
        sim_step(s);
    }
    return !s->violated;
}

static bool has_settled_leader(struct sim *s)
{
    return sim_leader(s, true) != 0;
}

static bool new_leader_committed(struct sim *s)
{
    return s->bench_commit_at != 0;
}

static bool never(struct sim *s)
{
    (void)s;
    return false;
}

static uint64_t bench_events;

struct trial {
    struct sim *s;
    uint64_t seed;
    uint32_t nodes;
    bool verbose;
    bool ok;
    uint64_t lead_us, commit_us;
};

/* One trial: a fresh cluster elects a leader, runs 0.3 to 1.3 s more, then
 * the leader crashes at that random moment; measured: the time until another
 * server is leader, and until it has committed its no-op. */
static void election_trial(void *arg)
{
    struct trial *t = arg;
    struct sim *s = t->s;
    t->ok = false;
    sim_init_bench(s, t->seed, t->nodes);
    s->verbose = t->verbose;
    if (!run_until(s, 10000000, has_settled_leader))
        return;
    run_until(s, 300000 + sim_mix64(t->seed) % 1000000, never);
    raft_id_t l = sim_leader(s, false);
    if (l == 0 || s->violated)
        return;
    uint64_t t0 = s->now;
    s->bench_exclude = l;
    sim_crash(s, (uint32_t)(l - 1));
    if (!run_until(s, 10000000, new_leader_committed))
        return;
    t->lead_us = s->bench_leader_at - t0;
    t->commit_us = s->bench_commit_at - t0;
    t->ok = true;
}

static int election_bench(uint64_t trials, uint64_t seed, uint32_t nodes, bool verbose)
{
    uint64_t *lead = calloc(trials, sizeof *lead), *commit = calloc(trials, sizeof *commit);
    uint64_t n = 0, failed = 0, violations = 0, worst = 0, worst_seed = 0;
    struct sim *s = calloc(1, sizeof *s);
    if (lead == NULL || commit == NULL || s == NULL)
        return 2;
    for (uint64_t k = 0; k < trials; k++) {
        struct trial t = {s, seed + k, nodes, verbose, false, 0, 0};
        bool aborted = guarded(election_trial, &t);
        if (aborted)
            sim_violation(s, "the core aborted (assertion failed, see the message above)");
        if (s->violated) {
            printf("VIOLATION election trial seed=%" PRIu64 " nodes=%u: %s\n", t.seed, nodes,
                   s->why);
            sim_trace_print(s, stdout);
            printf("replay: raftmq-sim --election-trials 1 --seed %" PRIu64 " --nodes %u\n",
                   t.seed, nodes);
            violations++;
        } else if (!t.ok) {
            failed++;
        } else {
            lead[n] = t.lead_us;
            commit[n] = t.commit_us;
            if (t.commit_us > worst) {
                worst = t.commit_us;
                worst_seed = t.seed;
            }
            n++;
        }
        bench_events += s->events;
        sim_free(s, !aborted);
    }
    free(s);
    printf("election benchmark, %u nodes, seeds %" PRIu64 "..%" PRIu64
           " (1 tick = 1 ms, election timeout 150-300 ticks, heartbeat 30, pre-vote and "
           "check-quorum on, 1 ms one-way delay, no loss):\n",
           nodes, seed, seed + trials - 1);
    print_stats("leader crash -> new leader", lead, n, failed);
    print_stats("leader crash -> no-op commit", commit, n, failed);
    if (n > 0)
        printf("  slowest trial: --election-trials 1 --seed %" PRIu64 " --nodes %u --verbose\n",
               worst_seed, nodes);
    free(lead);
    free(commit);
    return violations > 0 ? 1 : 0;
}

struct seed_run {
    struct sim *s;
    uint64_t seed, steps;
    uint32_t nodes;
    bool show_swarm;
    struct sim_flags flags;
};

static void seed_run(void *arg)
{
    struct seed_run *r = arg;
    sim_init(r->s, r->seed, r->nodes, &r->flags);
    if (r->show_swarm) {
        char buf[1024];
        sim_describe_swarm(r->s, buf, sizeof buf);
        printf("seed %" PRIu64 ": %s\n", r->seed, buf);
    }
    sim_run_seed(r->s, r->steps);
}

int main(int argc, char **argv)
{
    uint64_t seeds = 1, first = 1, steps = 10000, nodes = 0, trials = 0;
    bool verbose = false, show_swarm = false, vote_checks = true, torn_writes = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = true;
        } else if (strcmp(a, "--torn-writes") == 0) {
            torn_writes = true;
        } else if (strcmp(a, "--no-torn-writes") == 0) {
            torn_writes = false;
        } else if (strcmp(a, "--no-vote-checks") == 0) {
            vote_checks = false;
        } else if (strcmp(a, "--swarm") == 0) {
            show_swarm = true;
        } else if (strcmp(a, "--seeds") == 0) {
            ok = parse_u64(a, v, &seeds), i++;
            if (ok && seeds == 0) {
                fprintf(stderr, "raftmq-sim: --seeds must be at least 1\n");
                ok = false;
            }
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_u64(a, v, &first), i++;
        } else if (strcmp(a, "--steps") == 0) {
            ok = parse_u64(a, v, &steps), i++;
            if (ok && steps == 0) {
                fprintf(stderr, "raftmq-sim: --steps must be at least 1\n");
                ok = false;
            }
        } else if (strcmp(a, "--nodes") == 0) {
            ok = parse_u64(a, v, &nodes), i++;
            if (ok && nodes != 3 && nodes != 5) {
                fprintf(stderr, "raftmq-sim: --nodes must be 3 or 5\n");
                ok = false;
            }
        } else if (strcmp(a, "--election-trials") == 0) {
            ok = parse_u64(a, v, &trials), i++;
        } else {
            fprintf(stderr, "raftmq-sim: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok)
            return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_abort;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, NULL);

    if (trials > 0) {
        int rc = 0;
        for (uint32_t n = 3; n <= 5; n += 2)
            if (nodes == 0 || nodes == n)
                rc |= election_bench(trials, first, n, verbose);
        printf("seeds=%" PRIu64 " events=%" PRIu64 " violations=%d\n",
               trials * (nodes == 0 ? 2 : 1), bench_events, rc);
        return rc;
    }

    uint64_t events = 0, violations = 0, live_max = 0, conv_max = 0, frac_seed = 0;
    double frac_max = 0;
    struct sim_stats tot = {0};
    struct sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        return 2;
    for (uint64_t k = 0; k < seeds; k++) {
        uint64_t seed = first + k;
        struct seed_run run = {s, seed, steps, (uint32_t)nodes, show_swarm,
                               {verbose, vote_checks, torn_writes}};
        bool aborted = guarded(seed_run, &run);
        if (aborted)
            sim_violation(s, "the core aborted (assertion failed, see the message above)");
        events += s->events;
        if (s->violated) {
            char buf[1024];
            violations++;
            printf("VIOLATION seed=%" PRIu64 ": %s\n", seed, s->why);
            sim_describe_swarm(s, buf, sizeof buf);
            printf("fault mix: %s\n", buf);
            sim_trace_print(s, stdout);
            printf("replay: %s --seeds 1 --seed %" PRIu64 " --steps %" PRIu64, argv[0], seed,
                   steps);
            if (nodes != 0)
                printf(" --nodes %" PRIu64, nodes);
            if (!vote_checks)
                printf(" --no-vote-checks");
            if (!torn_writes)
                printf(" --no-torn-writes");
            printf(" --verbose\n");
            fflush(stdout);
        } else {
            if (s->liveness_us > live_max)
                live_max = s->liveness_us;
            if (s->converged_us > conv_max)
                conv_max = s->converged_us;
            double frac = (double)s->converged_us / (double)s->liveness_bound_us;
            if (frac > frac_max) {
                frac_max = frac;
                frac_seed = seed;
            }
        }
        tot.leaders += s->st.leaders;
        tot.crashes += s->st.crashes;
        tot.restarts += s->st.restarts;
        tot.partitions += s->st.partitions;
        tot.msgs += s->st.msgs;
        tot.lost += s->st.lost;
        tot.snapshots_sent += s->st.snapshots_sent;
        tot.installs += s->st.installs;
        tot.compactions += s->st.compactions;
        tot.proposals_ok += s->st.proposals_ok;
        tot.proposals_refused += s->st.proposals_refused;
        tot.busy += s->st.busy;
        tot.members_ok += s->st.members_ok;
        tot.transfers_ok += s->st.transfers_ok;
        tot.truncations += s->st.truncations;
        tot.commits += s->st.commits;

        sim_free(s, !aborted);
    }
    free(s);
    printf("exercised: %" PRIu64 " leaders elected, %" PRIu64 " crashes, %" PRIu64
           " restarts, %" PRIu64 " partitions, %" PRIu64 " messages (%" PRIu64 " lost), %" PRIu64
           " proposals accepted (%" PRIu64 " refused, %" PRIu64 " EBUSY), %" PRIu64
           " entries committed, %" PRIu64 " durable truncations, %" PRIu64 " compactions, %" PRIu64
           " snapshots sent, %" PRIu64 " installed, %" PRIu64 " membership changes, %" PRIu64
           " transfers\n",
           tot.leaders, tot.crashes, tot.restarts, tot.partitions, tot.msgs, tot.lost,
           tot.proposals_ok, tot.proposals_refused, tot.busy, tot.commits, tot.truncations,
           tot.compactions, tot.snapshots_sent, tot.installs, tot.members_ok, tot.transfers_ok);
    if (verbose || seeds > 1)
        printf("liveness: longest time from faults stopping to a committed proposal: %.3f s, "
               "to every member applying it: %.3f s; at most %.0f%% of its seed's bound "
               "used (seed %" PRIu64 ")\n",
               live_max / 1e6, conv_max / 1e6, frac_max * 100, frac_seed);
    printf("seeds=%" PRIu64 " events=%" PRIu64 " violations=%" PRIu64 "\n", seeds, events,
           violations);
    return violations > 0 ? 1 : 0;
}
