/*
 * raftmq-faults: runs a real cluster of raftmq-broker processes under a
 * seeded schedule of faults (kills, pauses, network partitions, graceful
 * restarts, simulated power losses) while producers (libraftmq, with and
 * without idempotence) and a consumer run, records every send and outcome,
 * then heals everything, drains every partition and checks the history
 * (tests/faults/checker.h), the replicas' logs and the brokers' exits.
 *
 * Network faults need the cluster inside a network namespace of its own,
 * with one loopback address per broker (127.0.0.11, .12, ...): run through
 * tests/faults/run.sh, which creates the namespace, runs this program
 * inside it with --netns and removes it afterwards. There, rules in an
 * nft table of the namespace drop packets between two brokers' addresses;
 * clients connect from 127.0.0.1, so they keep reaching every broker (an
 * isolated leader still hears its producers: the case that matters).
 *
 * Exit status: 0 every check passed; 1 a check failed (the seed and a
 * replay command are printed, the work directory is kept); 2 the harness
 * itself could not run (bad arguments, a broker that never started...).
 * With --expect-violation, 0 and 1 swap: the self-test with a broker built
 * to acknowledge before commit must be caught.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/faults/checker.h"
#include "wire/clock.h"
#include "wire/raftmq.h"

#define NODES_MAX 5
#define PRODUCERS_MAX 16
#define PARTITIONS_MAX 16
#define TOPIC "faults"
#define VALUE_BYTES 100
/* Bounds on waits (ms). Generous: the brokers may be sanitizer builds on 2 cores. */
#define START_WAIT_MS 30000
#define STOP_WAIT_MS 20000
#define RECOVERY_BOUND_MS 30000
#define DRAIN_BOUND_MS 90000
#define COMMAND_TIMEOUT_MS 30000
#define PRODUCER_DELIVERY_TIMEOUT_MS 30000
#define PRODUCER_REQUEST_TIMEOUT_MS 5000
/* The exit status of a broker after a simulated power loss (broker/server.c). */
#define POWER_LOSS_EXIT 137
#define NFT_TABLE "raftmq_faults"
#define PROBLEMS_SHOWN 20

/* ---- options ----------------------------------------------------------------------------- */

enum fault_kind {
    FAULT_KILL,
    FAULT_PAUSE,
    FAULT_ISOLATE,
    FAULT_SPLIT,
    FAULT_BRIDGE,
    FAULT_ONEWAY,
    FAULT_TRANSFER,
    FAULT_ROLLING,
    FAULT_POWER_LOSS,
    FAULT_LONELY,
    FAULT_KINDS
};

static const struct {
    const char *name;
    bool needs_network; /* needs --netns */
    const char *what;
} fault_info[FAULT_KINDS] = {
    {"kill", false, "SIGKILL a broker (usually a leader), restart it after 0.5-5 s"},
    {"pause", false, "SIGSTOP a broker (usually a leader) for 1-5 s, then SIGCONT"},
    {"isolate", true, "cut a leader off from every other broker for 2-8 s"},
    {"split", true, "split the brokers into a majority and a minority for 2-8 s"},
    {"bridge", true, "two sides that cannot talk, one broker seeing both, for 2-8 s"},
    {"oneway", true, "drop one direction between a leader and another broker for 2-8 s"},
    {"transfer", false, "stop a leader gracefully (it hands leadership away), restart it"},
    {"rolling", false, "stop and restart every broker in turn, gracefully"},
    {"powerloss", false, "a broker loses its unsynced writes and dies (--test-power-loss)"},
    {"lonely", false, "SIGSTOP every other broker, SIGKILL the leader left alone, resume, restart"},
};

struct options {
    const char *broker;
    const char *admin;
    const char *work_dir;
    uint32_t nodes;
    uint32_t replicas;
    uint32_t partitions;
    uint32_t producers;
    uint32_t rate; /* records/s per producer */
    uint32_t duration_s;
    uint64_t seed;
    bool enabled[FAULT_KINDS];
    bool netns;
    bool expect_violation;
    bool keep;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static int64_t start_ms; /* wire_mono_ms() at start: event times are relative to it */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("[%7.1fs] %s\n", (double)(wire_mono_ms() - start_ms) / 1000.0, line);
    fflush(stdout);
}

/* xorshift64*: the one source of randomness of the schedule, seeded. */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}
static uint32_t rng_below(uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(rng_next() % n);
}
static uint32_t rng_between_ms(uint32_t lo, uint32_t hi)
{
    return lo + rng_below(hi - lo + 1);
}

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Sleeps ms in small steps; false if interrupted. */
static bool nap_ms(uint32_t ms)
{
    int64_t until = wire_mono_ms() + ms;
    while (!interrupted) {
        int64_t left = until - wire_mono_ms();
        if (left <= 0)
            return true;
        wire_sleep_ms(left > 50 ? 50 : (uint32_t)left);
    }
    return false;
}

/*
 * Runs argv with stdout to `out` (cap bytes, NUL-terminated; may be NULL)
 * and stderr to the harness's stderr, bounded by timeout_ms (then SIGKILL).
 * Returns the exit status, or -1 if it could not run or was killed.
 */
static int run_command(char *const argv[], char *out, size_t cap, uint32_t timeout_ms)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], STDOUT_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "raftmq-faults: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    size_t len = 0;
    int64_t deadline = wire_mono_ms() + timeout_ms;
    int status = -1;
    bool reaped = false;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(pipefd[0], chunk, sizeof chunk);
        if (n > 0) {
            if (out != NULL && len + 1 < cap) {
                size_t take = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
                memcpy(out + len, chunk, take);
                len += take;
            }
            continue;
        }
        if (!reaped && waitpid(pid, &status, WNOHANG) == pid)
            reaped = true;
        if (reaped && n == 0)
            break;
        if (wire_mono_ms() > deadline) {
            if (!reaped) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
            }
            status = -1;
            break;
        }
        wire_sleep_ms(5);
    }
    close(pipefd[0]);
    if (out != NULL && cap > 0)
        out[len] = '\0';
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ---- the cluster --------------------------------------------------------------------------- */

enum node_state { NODE_DOWN, NODE_UP, NODE_PAUSED };

struct node {
    uint32_t id;
    char host[32];
    uint16_t peer_port, client_port;
    pid_t pid;
    enum node_state state;
    uint32_t starts;
};

struct cluster {
    const struct options *o;
    uint32_t n;
    struct node nodes[NODES_MAX];
    char brokers[512];       /* the client list, tcp://HOST:PORT,... */
    uint32_t unexpected_exits; /* check 6 */
    uint32_t bad_exits;        /* a planned stop that did not end as planned */
    char problems[PROBLEMS_SHOWN][256];
    uint32_t problem_count;
};

static void problem(struct cluster *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct cluster *cl, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    say("PROBLEM: %s", line);
    if (cl->problem_count < PROBLEMS_SHOWN)
        snprintf(cl->problems[cl->problem_count], sizeof cl->problems[0], "%s", line);
    cl->problem_count++;
}

/* Binds (connect false: is the port free?) or connects (is a broker listening?) to host:port. */
static bool port_try(const char *host, uint16_t port, bool connect_to_it)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    bool ok = (connect_to_it ? connect(s, (struct sockaddr *)&a, sizeof a)
                             : bind(s, (struct sockaddr *)&a, sizeof a)) == 0;
    close(s);
    return ok;
}

/*
 * Addresses: in a namespace, broker i is 127.0.0.(10+i) on fixed ports
 * (nothing else lives there). Outside, every broker is 127.0.0.1 on free
 * ports below the kernel's ephemeral range (where the brokers' own
 * outgoing connections take their local ports).
 */
static int cluster_addresses(struct cluster *cl)
{
    uint16_t candidate = (uint16_t)(20000 + (getpid() % 500) * 20);
    size_t off = 0;
    for (uint32_t i = 0; i < cl->n; i++) {
        struct node *nd = &cl->nodes[i];
        nd->id = i + 1;
        if (cl->o->netns) {
            snprintf(nd->host, sizeof nd->host, "127.0.0.%u", 11 + i);
            nd->peer_port = 7001;
            nd->client_port = 7002;
        } else {
            snprintf(nd->host, sizeof nd->host, "127.0.0.1");
            uint16_t found[2];
            for (int k = 0; k < 2; k++) {
                uint32_t tries = 0;
                while (!port_try(nd->host, candidate, false)) {
                    if (++tries > 5000)
                        return -1;
                    candidate = candidate >= 32000 ? 20000 : (uint16_t)(candidate + 1);
                }
                found[k] = candidate++;
            }
            nd->peer_port = found[0];
            nd->client_port = found[1];
        }
        off += (size_t)snprintf(cl->brokers + off, sizeof cl->brokers - off, "%stcp://%s:%u",
                                i == 0 ? "" : ",", nd->host, nd->client_port);
    }
    return 0;
}

static int node_start(struct cluster *cl, struct node *nd)
{
    const struct options *o = cl->o;
    char data_dir[PATH_MAX], log_path[PATH_MAX], id[16];
    snprintf(data_dir, sizeof data_dir, "%s/data%u", o->work_dir, nd->id);
    snprintf(log_path, sizeof log_path, "%s/broker%u.log", o->work_dir, nd->id);
    snprintf(id, sizeof id, "%u", nd->id);
    mkdir(data_dir, 0755);
    char specs[NODES_MAX][160];
    char *argv[8 + 2 * NODES_MAX + 8];
    int argc = 0;
    argv[argc++] = (char *)o->broker;
    argv[argc++] = (char *)"--node-id";
    argv[argc++] = id;
    argv[argc++] = (char *)"--data-dir";
    argv[argc++] = data_dir;
    for (uint32_t i = 0; i < cl->n; i++) {
        const struct node *m = &cl->nodes[i];
        snprintf(specs[i], sizeof specs[i], "%u,tcp://%s:%u,tcp://%s:%u", m->id, m->host,
                 m->peer_port, m->host, m->client_port);
        argv[argc++] = (char *)"--node";
        argv[argc++] = specs[i];
    }
    if (o->netns) {
        argv[argc++] = (char *)"--peer-source-address";
        argv[argc++] = nd->host;
    }
    if (o->enabled[FAULT_POWER_LOSS])
        argv[argc++] = (char *)"--test-power-loss";
    argv[argc] = NULL;

    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(log_fd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the harness */
        dup2(log_fd, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        execv(argv[0], argv);
        fprintf(stderr, "raftmq-faults: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(log_fd);
    nd->pid = pid;
    nd->state = NODE_UP;
    nd->starts++;
    return 0;
}

/* Waits (bounded) for a started broker's client port; false if it died or never opened. */
static bool node_wait_ready(struct cluster *cl, struct node *nd)
{
    int64_t deadline = wire_mono_ms() + START_WAIT_MS;
    while (wire_mono_ms() < deadline && !interrupted) {
        if (port_try(nd->host, nd->client_port, true))
            return true;
        int status;
        if (waitpid(nd->pid, &status, WNOHANG) == nd->pid) {
            nd->state = NODE_DOWN;
            problem(cl, "broker %u exited during start-up (status 0x%x)", nd->id, status);
            cl->unexpected_exits++;
            return false;
        }
        wire_sleep_ms(50);
    }
    problem(cl, "broker %u's client port did not open within %d ms", nd->id, START_WAIT_MS);
    return false;
}

/* Reaps brokers that exited on their own: each is a crash (check 6); it is restarted. */
static void cluster_reap(struct cluster *cl)
{
    for (uint32_t i = 0; i < cl->n; i++) {
        struct node *nd = &cl->nodes[i];
        if (nd->state == NODE_DOWN)
            continue;
        int status;
        if (waitpid(nd->pid, &status, WNOHANG) != nd->pid)
            continue;
        nd->state = NODE_DOWN;
        cl->unexpected_exits++;
        if (WIFSIGNALED(status))
            problem(cl, "broker %u died of signal %d, unprompted", nd->id, WTERMSIG(status));
        else
            problem(cl, "broker %u exited with status %d, unprompted", nd->id, WEXITSTATUS(status));
        if (node_start(cl, nd) == 0)
            node_wait_ready(cl, nd);
    }
}

/*
 * Sends sig and waits (bounded) for the exit; the exit must be `want`:
 * a signal number (negative: -SIGKILL) or an exit status (>= 0).
 */
static void node_stop(struct cluster *cl, struct node *nd, int sig, int want)
{
    if (nd->state == NODE_DOWN)
        return;
    if (nd->state == NODE_PAUSED)
        kill(nd->pid, SIGCONT);
    kill(nd->pid, sig);
    int status = 0;
    int64_t deadline = wire_mono_ms() + STOP_WAIT_MS;
    pid_t r = 0;
    while ((r = waitpid(nd->pid, &status, WNOHANG)) == 0 && wire_mono_ms() < deadline)
        wire_sleep_ms(10);
    if (r != nd->pid) {
        problem(cl, "broker %u did not exit within %d ms of signal %d; killed", nd->id,
                STOP_WAIT_MS, sig);
        kill(nd->pid, SIGKILL);
        waitpid(nd->pid, &status, 0);
        cl->bad_exits++;
    } else if (want < 0 ? !(WIFSIGNALED(status) && WTERMSIG(status) == -want)
                        : !(WIFEXITED(status) && WEXITSTATUS(status) == want)) {
        problem(cl, "broker %u: after signal %d it ended with %s %d, want %s %d", nd->id, sig,
                WIFSIGNALED(status) ? "signal" : "status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                want < 0 ? "signal" : "status", want < 0 ? -want : want);
        cl->bad_exits++;
    }
    nd->state = NODE_DOWN;
}

static int cluster_start(struct cluster *cl)
{
    for (uint32_t i = 0; i < cl->n; i++)
        if (node_start(cl, &cl->nodes[i]) != 0)
            return -1;
    for (uint32_t i = 0; i < cl->n; i++)
        if (!node_wait_ready(cl, &cl->nodes[i]))
            return -1;
    return 0;
}

static void cluster_kill_all(struct cluster *cl)
{
    for (uint32_t i = 0; i < cl->n; i++) {
        struct node *nd = &cl->nodes[i];
        if (nd->state != NODE_DOWN) {
            kill(nd->pid, SIGKILL);
            waitpid(nd->pid, NULL, 0);
            nd->state = NODE_DOWN;
        }
    }
}

/* raftmq-admin with the cluster's brokers; stdout into out. */
static int admin(struct cluster *cl, char *out, size_t cap, const char *a1, const char *a2,
                 const char *a3, const char *a4, const char *a5, const char *a6, const char *a7,
                 const char *a8)
{
    char *argv[] = {(char *)cl->o->admin, (char *)"-b", cl->brokers, (char *)"--timeout",
                    (char *)"20000", (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5,
                    (char *)a6, (char *)a7, (char *)a8, NULL};
    return run_command(argv, out, cap, COMMAND_TIMEOUT_MS);
}

/* Current partition leaders (0: none known), from `topic describe --json`. */
static void partition_leaders(struct cluster *cl, uint32_t *leaders, uint32_t partitions)
{
    memset(leaders, 0, partitions * sizeof *leaders);
    static char out[65536];
    if (admin(cl, out, sizeof out, "--json", "topic", "describe", TOPIC, NULL, NULL, NULL, NULL) != 0)
        return;
    for (const char *p = out; (p = strstr(p, "{\"partition\":")) != NULL; p++) {
        unsigned part, leader;
        if (sscanf(p, "{\"partition\":%u,\"leader\":%u", &part, &leader) == 2 && part < partitions)
            leaders[part] = leader;
    }
}

/* ---- the network (inside the test's own namespace only) ------------------------------------ */

static int nft(const char *command)
{
    char *argv[] = {(char *)"nft", (char *)command, NULL};
    int rc = run_command(argv, NULL, 0, COMMAND_TIMEOUT_MS);
    if (rc != 0)
        fprintf(stderr, "raftmq-faults: nft %s: exit %d\n", command, rc);
    return rc;
}

static int net_setup(void)
{
    if (nft("add table inet " NFT_TABLE) != 0 ||
        nft("add chain inet " NFT_TABLE " out { type filter hook output priority 0 ; policy accept ; }") != 0)
        return -1;
    return 0;
}

/* Drops packets from a to b (one direction). */
static void net_block(const struct node *a, const struct node *b)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "add rule inet " NFT_TABLE " out ip saddr %s ip daddr %s drop",
             a->host, b->host);
    nft(cmd);
}

static void net_heal(void)
{
    nft("flush chain inet " NFT_TABLE " out");
}

/* ---- producers and the live consumer ------------------------------------------------------------ */

struct shared {
    pthread_mutex_t lock; /* the checker and the fields below */
    struct checker *checker;
    int64_t last_acked_ts[PARTITIONS_MAX]; /* newest acknowledged record's timestamp (wall ms) */
    /* Unavailability: the longest time between two acknowledgments of a
     * partition, by the fault under way when the silence ended. */
    int64_t last_ack_mono[PARTITIONS_MAX];
    int active_fault; /* enum fault_kind; FAULT_KINDS: none */
    int64_t worst_silence_ms[FAULT_KINDS + 1];
    int64_t fault_silence_ms; /* the longest silence ending during the current fault */
    int fault_silence_partition;
    uint64_t refused; /* sends the library refused at once (no report; not in the history) */
    atomic_bool stop_producing;
    atomic_bool stop_consuming;
    const struct options *o;
    const char *brokers;
    /* Calls the checker refused (a harness bug or a bound too small): the verdict is void. */
    uint64_t history_errors;
    char history_error[256];
};

/* With sh->lock held: remembers a refused checker call. */
static void note_history(struct shared *sh, int rc)
{
    if (rc == CHECKER_OK)
        return;
    if (sh->history_errors++ == 0)
        snprintf(sh->history_error, sizeof sh->history_error, "%s",
                 checker_last_error(sh->checker));
}

struct producer_thread {
    pthread_t thread;
    struct shared *sh;
    uint32_t id;
    bool idempotent;
    uint64_t next_seq;
    uint64_t seq_max;
    uint64_t rng;
    char error[256];
};

static void on_delivery(const struct raftmq_delivery *d, void *opaque)
{
    struct producer_thread *pt = opaque;
    struct shared *sh = pt->sh;
    uint64_t seq = (uint64_t)(uintptr_t)d->opaque;
    pthread_mutex_lock(&sh->lock);
    note_history(sh, checker_outcome(sh->checker, pt->id, seq, d->error, d->offset, d->attempts));
    if (d->error == RAFTMQ_OK && d->partition >= 0 && d->partition < PARTITIONS_MAX) {
        if (d->timestamp > sh->last_acked_ts[d->partition])
            sh->last_acked_ts[d->partition] = d->timestamp;
        int64_t now = wire_mono_ms();
        int64_t last = sh->last_ack_mono[d->partition];
        int64_t silence = now - last;
        if (last > 0 && silence > sh->worst_silence_ms[sh->active_fault])
            sh->worst_silence_ms[sh->active_fault] = silence;
        if (last > 0 && silence > sh->fault_silence_ms) {
            sh->fault_silence_ms = silence;
            sh->fault_silence_partition = d->partition;
        }
        sh->last_ack_mono[d->partition] = now;
    }
    pthread_mutex_unlock(&sh->lock);
}

static void *producer_main(void *arg)
{
    struct producer_thread *pt = arg;
    struct shared *sh = pt->sh;
    const struct options *o = sh->o;
    struct raftmq_producer_config cfg;
    raftmq_producer_config_init(&cfg);
    cfg.brokers = sh->brokers;
    cfg.idempotence = pt->idempotent;
    cfg.linger_ms = 2;
    cfg.request_timeout_ms = PRODUCER_REQUEST_TIMEOUT_MS;
    cfg.delivery_timeout_ms = PRODUCER_DELIVERY_TIMEOUT_MS;
    cfg.buffer_bytes_max = 8u << 20;
    cfg.on_delivery = on_delivery;
    cfg.cb_opaque = pt;
    raftmq_producer *p;
    if (raftmq_producer_new(&cfg, &p, pt->error, sizeof pt->error) != RAFTMQ_OK)
        return NULL;
    /* Paced in 10 ms steps: rate/100 records per step (at least one). */
    uint32_t per_step = o->rate / 100 > 0 ? o->rate / 100 : 1;
    uint32_t step_ms = o->rate >= 100 ? 10 : 1000 / o->rate;
    int64_t next_step = wire_mono_ms();
    char value[VALUE_BYTES];
    memset(value, 'x', sizeof value);
    while (!atomic_load(&sh->stop_producing) && pt->next_seq < pt->seq_max) {
        int64_t now = wire_mono_ms();
        if (now >= next_step) {
            next_step += step_ms;
            if (next_step < now - 1000) /* a long stall: do not burst to catch up */
                next_step = now;
            for (uint32_t k = 0; k < per_step && pt->next_seq < pt->seq_max; k++) {
                uint64_t seq = pt->next_seq;
                checker_format_id(value, sizeof value, pt->id, seq);
                pt->rng = pt->rng * 6364136223846793005ull + 1442695040888963407ull;
                int32_t partition = (int32_t)((pt->rng >> 33) % o->partitions);
                struct raftmq_message m = {.topic = TOPIC, .partition = partition,
                                           .value = value, .value_len = sizeof value,
                                           .opaque = (void *)(uintptr_t)seq};
                int rc = raftmq_producer_send(p, &m);
                if (rc == RAFTMQ_ERR_QUEUE_FULL)
                    break; /* poll, try again next step */
                if (rc != RAFTMQ_OK) {
                    pthread_mutex_lock(&sh->lock);
                    sh->refused++;
                    pthread_mutex_unlock(&sh->lock);
                    break;
                }
                pthread_mutex_lock(&sh->lock);
                note_history(sh, checker_sent(sh->checker, pt->id, seq, (uint32_t)partition));
                pthread_mutex_unlock(&sh->lock);
                pt->next_seq++;
            }
        }
        int64_t wait = next_step - wire_mono_ms();
        raftmq_producer_poll(p, wait > 0 ? (int)(wait < 10 ? wait : 10) : 0);
    }
    /* Every record gets its report: the delivery timeout bounds the flush. */
    raftmq_producer_flush(p, PRODUCER_DELIVERY_TIMEOUT_MS + 5000);
    raftmq_producer_close(p);
    return NULL;
}

struct consumer_thread {
    pthread_t thread;
    struct shared *sh;
    uint64_t records;
    uint64_t errors;
};

/* Assigns every partition from its beginning, retrying until stop is set or deadline_ms passes. */
static int assign_all(raftmq_consumer *c, uint32_t partitions, atomic_bool *stop,
                      int64_t deadline_ms)
{
    for (uint32_t k = 0; k < partitions; k++) {
        int rc;
        while ((rc = raftmq_consumer_assign(c, TOPIC, (int32_t)k, RAFTMQ_OFFSET_BEGINNING)) !=
               RAFTMQ_OK) {
            if (atomic_load(stop) || wire_mono_ms() > deadline_ms)
                return rc;
            wire_sleep_ms(100);
        }
    }
    return RAFTMQ_OK;
}

static raftmq_consumer *open_consumer(const char *brokers)
{
    struct raftmq_consumer_config cfg;
    raftmq_consumer_config_init(&cfg);
    cfg.brokers = brokers;
    cfg.request_timeout_ms = 3000;
    cfg.fetch_max_wait_ms = 200;
    cfg.offset_reset = RAFTMQ_RESET_ERROR; /* nothing is ever deleted here */
    raftmq_consumer *c;
    char err[256];
    if (raftmq_consumer_new(&cfg, &c, err, sizeof err) != RAFTMQ_OK) {
        fprintf(stderr, "raftmq-faults: consumer: %s\n", err);
        return NULL;
    }
    return c;
}

/* Reads while the faults run: whatever it sees must be what the final drain sees. */
static void *consumer_main(void *arg)
{
    struct consumer_thread *ct = arg;
    struct shared *sh = ct->sh;
    raftmq_consumer *c = open_consumer(sh->brokers);
    if (c == NULL)
        return NULL;
    if (assign_all(c, sh->o->partitions, &sh->stop_consuming, INT64_MAX) == RAFTMQ_OK) {
        while (!atomic_load(&sh->stop_consuming)) {
            struct raftmq_record r;
            int rc = raftmq_consumer_poll(c, 100, &r);
            if (rc == RAFTMQ_OK) {
                pthread_mutex_lock(&sh->lock);
                note_history(sh, checker_read_live(sh->checker, (uint32_t)r.partition,
                                                   (uint64_t)r.offset, r.value, r.value_len));
                pthread_mutex_unlock(&sh->lock);
                ct->records++;
            } else if (rc != RAFTMQ_ERR_NO_RECORD) {
                ct->errors++; /* timeouts while leaders move: the consumer keeps trying */
            }
        }
    }
    raftmq_consumer_close(c);
    return NULL;
}

/* ---- recovery: writes succeed again after a fault ------------------------------------------- */

struct recovery_stats {
    uint32_t faults[FAULT_KINDS];
    int64_t worst_ms[FAULT_KINDS];
    int64_t worst_overall_ms;
    enum fault_kind worst_kind;
    uint32_t not_recovered;
};

/*
 * Waits until every partition has acknowledged a record stamped after
 * healed_wall_ms: writes work again. Returns the time it took, or -1
 * past RECOVERY_BOUND_MS.
 */
static int64_t wait_recovery(struct shared *sh, uint32_t partitions, int64_t healed_wall_ms)
{
    int64_t started = wire_mono_ms();
    while (wire_mono_ms() - started < RECOVERY_BOUND_MS && !interrupted) {
        bool all = true;
        pthread_mutex_lock(&sh->lock);
        for (uint32_t k = 0; k < partitions; k++)
            all = all && sh->last_acked_ts[k] >= healed_wall_ms;
        pthread_mutex_unlock(&sh->lock);
        if (all)
            return wire_wall_ms() - healed_wall_ms;
        wire_sleep_ms(20);
    }
    return -1;
}

/* ---- the nemesis ------------------------------------------------------------------------------ */

/* A broker to hit: usually the leader of a random partition, sometimes any broker. */
static struct node *pick_target(struct cluster *cl, uint32_t partitions, const char **why)
{
    if (rng_below(10) < 7) {
        uint32_t leaders[PARTITIONS_MAX];
        partition_leaders(cl, leaders, partitions);
        uint32_t k = rng_below(partitions);
        if (leaders[k] >= 1 && leaders[k] <= cl->n && cl->nodes[leaders[k] - 1].state == NODE_UP) {
            *why = "a leader";
            return &cl->nodes[leaders[k] - 1];
        }
    }
    *why = "any broker";
    return &cl->nodes[rng_below(cl->n)];
}

/* Random permutation of the node indexes into order[0..n). */
static void shuffle(uint32_t *order, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Blocks every pair between side a[0..na) and side b[0..nb), both ways. */
static void block_sides(struct cluster *cl, const uint32_t *a, uint32_t na, const uint32_t *b,
                        uint32_t nb)
{
    for (uint32_t i = 0; i < na; i++)
        for (uint32_t j = 0; j < nb; j++) {
            net_block(&cl->nodes[a[i]], &cl->nodes[b[j]]);
            net_block(&cl->nodes[b[j]], &cl->nodes[a[i]]);
        }
}

static void restart(struct cluster *cl, struct node *nd)
{
    if (node_start(cl, nd) == 0)
        node_wait_ready(cl, nd);
    else
        problem(cl, "cannot restart broker %u", nd->id);
}

static int64_t inject(struct cluster *cl, enum fault_kind kind);

/* Ends a broker with sig (its exit must be `want`, as node_stop), restarts it hold_ms later. */
static void crash_and_restart(struct cluster *cl, struct node *t, int sig, int want,
                              uint32_t hold_ms)
{
    node_stop(cl, t, sig, want);
    nap_ms(hold_ms);
    restart(cl, t);
}

/* Faults combined: how often a network fault gets a process fault (kill,
 * pause or power loss, as enabled) in its middle, and how many there were. */
#define COMPOUND_PERCENT 30
static uint32_t compound_faults;

/* Holds a network fault for hold_ms, sometimes with a process fault inside. */
static void hold_partitioned(struct cluster *cl, uint32_t hold_ms)
{
    enum fault_kind inner[3];
    uint32_t n = 0;
    if (cl->o->enabled[FAULT_KILL])
        inner[n++] = FAULT_KILL;
    if (cl->o->enabled[FAULT_PAUSE])
        inner[n++] = FAULT_PAUSE;
    if (cl->o->enabled[FAULT_POWER_LOSS])
        inner[n++] = FAULT_POWER_LOSS;
    if (n == 0 || rng_below(100) >= COMPOUND_PERCENT) {
        nap_ms(hold_ms);
        return;
    }
    int64_t until = wire_mono_ms() + hold_ms;
    nap_ms(hold_ms / 3);
    say("  and, while the network is cut:");
    inject(cl, inner[rng_below(n)]);
    compound_faults++;
    int64_t left = until - wire_mono_ms();
    if (left > 0)
        nap_ms((uint32_t)left);
}

/* Injects one fault and heals it; returns the wall time it was healed at. */
static int64_t inject(struct cluster *cl, enum fault_kind kind)
{
    const struct options *o = cl->o;
    const char *why = "";
    struct node *t;
    uint32_t order[NODES_MAX];
    uint32_t hold;
    switch (kind) {
    case FAULT_KILL:
        t = pick_target(cl, o->partitions, &why);
        hold = rng_between_ms(500, 5000);
        say("kill: SIGKILL broker %u (%s), restart in %.1f s", t->id, why, hold / 1000.0);
        crash_and_restart(cl, t, SIGKILL, -SIGKILL, hold);
        break;
    case FAULT_POWER_LOSS:
        t = pick_target(cl, o->partitions, &why);
        hold = rng_between_ms(500, 3000);
        say("powerloss: broker %u (%s) loses its unsynced writes, restart in %.1f s", t->id, why,
            hold / 1000.0);
        crash_and_restart(cl, t, SIGUSR1, POWER_LOSS_EXIT, hold);
        break;
    case FAULT_PAUSE:
        t = pick_target(cl, o->partitions, &why);
        hold = rng_between_ms(1000, 5000);
        say("pause: SIGSTOP broker %u (%s) for %.1f s", t->id, why, hold / 1000.0);
        if (t->state == NODE_UP) {
            kill(t->pid, SIGSTOP);
            t->state = NODE_PAUSED;
            nap_ms(hold);
            kill(t->pid, SIGCONT);
            t->state = NODE_UP;
        }
        break;
    case FAULT_ISOLATE:
        t = pick_target(cl, o->partitions, &why);
        hold = rng_between_ms(2000, 8000);
        say("isolate: broker %u (%s) cut off from the other brokers for %.1f s", t->id, why,
            hold / 1000.0);
        order[0] = t->id - 1;
        for (uint32_t i = 0, k = 1; i < cl->n; i++)
            if (i != t->id - 1)
                order[k++] = i;
        block_sides(cl, order, 1, order + 1, cl->n - 1);
        hold_partitioned(cl, hold);
        net_heal();
        break;
    case FAULT_SPLIT: {
        shuffle(order, cl->n);
        uint32_t minority = cl->n / 2;
        hold = rng_between_ms(2000, 8000);
        char side[64] = "";
        for (uint32_t i = 0; i < minority; i++)
            snprintf(side + strlen(side), sizeof side - strlen(side), " %u", order[i] + 1);
        say("split: minority {%s } from the majority for %.1f s", side, hold / 1000.0);
        block_sides(cl, order, minority, order + minority, cl->n - minority);
        hold_partitioned(cl, hold);
        net_heal();
        break;
    }
    case FAULT_BRIDGE: {
        /* order[0] is the bridge; order[1..1+a) and order[1+a..n) cannot talk. */
        shuffle(order, cl->n);
        uint32_t a = (cl->n - 1) / 2;
        hold = rng_between_ms(2000, 8000);
        say("bridge: broker %u sees both sides, which cannot talk, for %.1f s", order[0] + 1,
            hold / 1000.0);
        block_sides(cl, order + 1, a, order + 1 + a, cl->n - 1 - a);
        hold_partitioned(cl, hold);
        net_heal();
        break;
    }
    case FAULT_ONEWAY: {
        t = pick_target(cl, o->partitions, &why);
        struct node *other = &cl->nodes[(t->id - 1 + 1 + rng_below(cl->n - 1)) % cl->n];
        bool outgoing = rng_below(2) == 0;
        hold = rng_between_ms(2000, 8000);
        say("oneway: drop %u -> %u (%s is %u) for %.1f s", outgoing ? t->id : other->id,
            outgoing ? other->id : t->id, why, t->id, hold / 1000.0);
        if (outgoing)
            net_block(t, other);
        else
            net_block(other, t);
        hold_partitioned(cl, hold);
        net_heal();
        break;
    }
    case FAULT_TRANSFER:
        t = pick_target(cl, o->partitions, &why);
        say("transfer: SIGTERM broker %u (%s): it hands leadership away; restart", t->id, why);
        node_stop(cl, t, SIGTERM, 0);
        restart(cl, t);
        break;
    case FAULT_ROLLING:
        say("rolling: every broker stopped gracefully and restarted, in turn");
        for (uint32_t i = 0; i < cl->n && !interrupted; i++) {
            node_stop(cl, &cl->nodes[i], SIGTERM, 0);
            restart(cl, &cl->nodes[i]);
            nap_ms(1000);
        }
        break;
    case FAULT_LONELY:
        /* A leader whose followers all stall, then crashes: whatever it
         * accepted meanwhile was never committed and must not have been
         * acknowledged (the followers elect a leader without it). Needs no
         * network namespace. */
        t = pick_target(cl, o->partitions, &why);
        hold = rng_between_ms(1000, 3000);
        say("lonely: every broker but %u (%s) paused; it is killed %.1f s later", t->id, why,
            hold / 1000.0);
        for (uint32_t i = 0; i < cl->n; i++)
            if (&cl->nodes[i] != t && cl->nodes[i].state == NODE_UP) {
                kill(cl->nodes[i].pid, SIGSTOP);
                cl->nodes[i].state = NODE_PAUSED;
            }
        nap_ms(hold);
        node_stop(cl, t, SIGKILL, -SIGKILL);
        for (uint32_t i = 0; i < cl->n; i++)
            if (cl->nodes[i].state == NODE_PAUSED) {
                kill(cl->nodes[i].pid, SIGCONT);
                cl->nodes[i].state = NODE_UP;
            }
        nap_ms(rng_between_ms(500, 2000));
        restart(cl, t);
        break;
    case FAULT_KINDS:
        break;
    }
    return wire_wall_ms();
}

/* ---- final checks: replicas ----------------------------------------------------------------- */

struct entry_sig {
    uint64_t term, first_offset, count;
    uint32_t type, crc;
};

struct replica_log {
    uint64_t group;
    uint64_t first, last, commit;
    struct entry_sig *entries; /* [first .. last] */
};

struct replica_stats {
    uint32_t groups;
    uint64_t entries_compared;
    uint32_t divergent;
    uint32_t lagging;
};

/* Parses `raftmq-broker dump DIR` output into logs[] (caller frees entries). */
static int load_dump(struct cluster *cl, struct node *nd, struct replica_log *logs, uint32_t cap,
                     uint32_t *count)
{
    char data_dir[PATH_MAX];
    snprintf(data_dir, sizeof data_dir, "%s/data%u", cl->o->work_dir, nd->id);
    size_t out_cap = 256u << 20;
    char *out = malloc(out_cap);
    if (out == NULL)
        return -1;
    char *argv[] = {(char *)cl->o->broker, (char *)"dump", (char *)"--data-dir", data_dir, NULL};
    int rc = run_command(argv, out, out_cap, 120000);
    if (rc != 0) {
        problem(cl, "raftmq-broker dump %s: exit %d", data_dir, rc);
        free(out);
        return -1;
    }
    *count = 0;
    struct replica_log *cur = NULL;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        uint64_t g, first, last, commit, idx;
        char name[256];
        struct entry_sig e;
        if (sscanf(line, "group %" SCNu64 " %255s first=%" SCNu64 " last=%" SCNu64
                   " commit=%" SCNu64, &g, name, &first, &last, &commit) == 5) {
            if (*count >= cap || last + 1 < first || last - first > (64u << 20)) {
                cur = NULL;
                continue;
            }
            cur = &logs[(*count)++];
            *cur = (struct replica_log){g, first, last, commit, NULL};
            cur->entries = calloc(last - first + 1 > 0 ? last - first + 1 : 1, sizeof *cur->entries);
            if (cur->entries == NULL) {
                free(out);
                return -1;
            }
        } else if (cur != NULL &&
                   sscanf(line, "entry %" SCNu64 " %" SCNu64 " %" SCNu64 " %u %" SCNu64 " %" SCNu64
                          " %x", &g, &idx, &e.term, &e.type, &e.first_offset, &e.count, &e.crc) == 7 &&
                   g == cur->group && idx >= cur->first && idx <= cur->last) {
            cur->entries[idx - cur->first] = e;
        }
    }
    free(out);
    return 0;
}

/*
 * Check 4: for every Raft group, the entries up to the lowest commit index
 * among its replicas are identical (term, type, offsets, CRC of the
 * payload) on every replica; a replica whose log ends before the highest
 * commit index after the quiet period is counted as lagging.
 */
static void compare_replicas(struct cluster *cl, struct replica_stats *rs)
{
    enum { GROUPS_MAX = 64 };
    static struct replica_log logs[NODES_MAX][GROUPS_MAX];
    uint32_t counts[NODES_MAX] = {0};
    for (uint32_t i = 0; i < cl->n; i++)
        if (load_dump(cl, &cl->nodes[i], logs[i], GROUPS_MAX, &counts[i]) != 0)
            rs->divergent++;
    /* Every group found on node 0..n: compare it with its copies elsewhere. */
    for (uint32_t i = 0; i < cl->n; i++) {
        for (uint32_t gi = 0; gi < counts[i]; gi++) {
            const struct replica_log *a = &logs[i][gi];
            bool seen_before = false;
            for (uint32_t j = 0; j < i && !seen_before; j++)
                for (uint32_t gj = 0; gj < counts[j]; gj++)
                    seen_before = seen_before || logs[j][gj].group == a->group;
            if (seen_before)
                continue;
            rs->groups++;
            const struct replica_log *copies[NODES_MAX];
            uint32_t n = 0;
            uint64_t low_commit = UINT64_MAX, high_commit = 0;
            for (uint32_t j = i; j < cl->n; j++)
                for (uint32_t gj = 0; gj < counts[j]; gj++)
                    if (logs[j][gj].group == a->group) {
                        copies[n++] = &logs[j][gj];
                        if (logs[j][gj].commit < low_commit)
                            low_commit = logs[j][gj].commit;
                        if (logs[j][gj].commit > high_commit)
                            high_commit = logs[j][gj].commit;
                    }
            for (uint32_t k = 0; k < n; k++)
                if (copies[k]->last < high_commit)
                    rs->lagging++;
            for (uint64_t idx = a->first; idx <= low_commit && idx <= a->last; idx++) {
                const struct entry_sig *ea = &a->entries[idx - a->first];
                for (uint32_t k = 1; k < n; k++) {
                    const struct replica_log *b = copies[k];
                    if (idx < b->first || idx > b->last)
                        continue;
                    const struct entry_sig *eb = &b->entries[idx - b->first];
                    rs->entries_compared++;
                    if (memcmp(ea, eb, sizeof *ea) != 0) {
                        if (rs->divergent < 5)
                            problem(cl, "group %" PRIu64 " entry %" PRIu64 " differs between "
                                    "replicas: term %" PRIu64 " crc %08x vs term %" PRIu64
                                    " crc %08x", a->group, idx, ea->term, ea->crc, eb->term,
                                    eb->crc);
                        rs->divergent++;
                    }
                }
            }
        }
    }
    for (uint32_t i = 0; i < cl->n; i++)
        for (uint32_t gi = 0; gi < counts[i]; gi++)
            free(logs[i][gi].entries);
}

/* Check 6: no sanitizer or assertion report in any broker's log. */
static uint32_t scan_logs(struct cluster *cl)
{
    static const char *const marks[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:",
                                        "Assertion", "assertion"};
    uint32_t found = 0;
    for (uint32_t i = 0; i < cl->n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/broker%u.log", cl->o->work_dir, cl->nodes[i].id);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        char line[4096];
        while (fgets(line, sizeof line, f) != NULL)
            for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++)
                if (strstr(line, marks[m]) != NULL) {
                    line[strcspn(line, "\n")] = '\0';
                    if (found < 5)
                        problem(cl, "broker %u's log: %.180s", cl->nodes[i].id, line);
                    found++;
                    break;
                }
        fclose(f);
    }
    return found;
}

/* ---- the final drain --------------------------------------------------------------------------- */

/* Reads every partition from offset 0 to its end into the checker. 0, or -1 past the bound. */
static int drain(struct shared *sh, uint32_t partitions, uint64_t *records)
{
    raftmq_consumer *c = open_consumer(sh->brokers);
    if (c == NULL)
        return -1;
    atomic_bool never = false;
    int64_t deadline = wire_mono_ms() + DRAIN_BOUND_MS;
    int result = -1;
    if (assign_all(c, partitions, &never, deadline) != RAFTMQ_OK)
        goto out;
    /* Done when every partition's position equals its high watermark twice,
     * a second apart (nothing is being written any more). */
    int64_t settled_since = -1;
    int64_t last_ends[PARTITIONS_MAX];
    for (uint32_t k = 0; k < partitions; k++)
        last_ends[k] = -1;
    while (wire_mono_ms() < deadline && !interrupted) {
        struct raftmq_record r;
        int rc = raftmq_consumer_poll(c, 100, &r);
        if (rc == RAFTMQ_OK) {
            pthread_mutex_lock(&sh->lock);
            int crc = checker_read_final(sh->checker, (uint32_t)r.partition, (uint64_t)r.offset,
                                         r.value, r.value_len);
            pthread_mutex_unlock(&sh->lock);
            if (crc != 0) {
                fprintf(stderr, "raftmq-faults: the drain read partition %d offset %" PRId64
                        " out of sequence\n", r.partition, r.offset);
                goto out;
            }
            (*records)++;
            settled_since = -1;
            continue;
        }
        if (rc != RAFTMQ_ERR_NO_RECORD)
            continue;
        bool at_end = true;
        for (uint32_t k = 0; k < partitions; k++) {
            int64_t pos = -1, end = -1;
            raftmq_consumer_position(c, TOPIC, (int32_t)k, &pos);
            raftmq_consumer_high_watermark(c, TOPIC, (int32_t)k, &end);
            if (end < 0 || pos != end || end != last_ends[k])
                at_end = false;
            last_ends[k] = end;
        }
        if (!at_end) {
            settled_since = -1;
            continue;
        }
        if (settled_since < 0)
            settled_since = wire_mono_ms();
        else if (wire_mono_ms() - settled_since >= 1000) {
            pthread_mutex_lock(&sh->lock);
            for (uint32_t k = 0; k < partitions; k++)
                checker_final_end(sh->checker, k, (uint64_t)last_ends[k]);
            pthread_mutex_unlock(&sh->lock);
            result = 0;
            goto out;
        }
    }
out:
    raftmq_consumer_close(c);
    return result;
}

static void print_problem(void *arg, const char *line)
{
    (void)arg;
    printf("  %s\n", line);
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: raftmq-faults [options]\n"
        "\n"
        "Runs a cluster of real brokers under a seeded schedule of faults while producers\n"
        "and a consumer run, then checks that no acknowledged record was lost, nothing\n"
        "was invented, duplicated or reordered, and every replica holds the same log.\n"
        "\n"
        "Options:\n"
        "      --broker PATH      raftmq-broker to run (default build/test/bin/raftmq-broker)\n"
        "      --admin PATH       raftmq-admin (default build/bin/raftmq-admin)\n"
        "      --work DIR         data directories and broker logs (default: a new\n"
        "                         /tmp/raftmq-faults.XXXXXX; kept on failure)\n"
        "      --nodes N          brokers, 3..5 (default 3)\n"
        "      --replicas R       replication factor, 1..nodes (default 3)\n"
        "      --partitions P     partitions of the test topic, 1..16 (default 3)\n"
        "      --producers N      concurrent producers, 1..16 (default 4: even ones idempotent)\n"
        "      --rate R           records per second per producer (default 300)\n"
        "      --duration S       seconds of faults (default 60)\n"
        "      --seed N           the schedule's seed (default: from the clock; printed)\n"
        "      --faults LIST      comma-separated kinds, or all (default all):\n");
    for (int k = 0; k < FAULT_KINDS; k++)
        fprintf(out, "                           %-9s %s%s\n", fault_info[k].name, fault_info[k].what,
                fault_info[k].needs_network ? " [--netns]" : "");
    fprintf(out,
        "      --netns            the harness runs inside a network namespace of its own\n"
        "                         (tests/faults/run.sh): brokers on 127.0.0.11.., network\n"
        "                         faults with nft; without it those kinds are skipped\n"
        "      --expect-violation exit 0 only if a check FAILS (the self-test's broken build)\n"
        "      --keep             keep the work directory even when every check passes\n"
        "  -h, --help             this help\n"
        "\n"
        "Exit status: 0 every check passed, 1 a check failed (seed and replay command\n"
        "printed, work directory kept), 2 the harness could not run.\n"
        "\n"
        "Examples:\n"
        "  tests/faults/run.sh --duration 600 --seed 42          # as make faults does\n"
        "  raftmq-faults --faults kill,pause --duration 30        # no namespace, no root\n");
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int parse_faults(const char *list, bool *enabled)
{
    memset(enabled, 0, FAULT_KINDS * sizeof *enabled);
    if (strcmp(list, "all") == 0) {
        for (int k = 0; k < FAULT_KINDS; k++)
            enabled[k] = true;
        return 0;
    }
    char copy[512];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *tok = strtok(copy, ","); tok != NULL; tok = strtok(NULL, ",")) {
        int k = 0;
        while (k < FAULT_KINDS && strcmp(fault_info[k].name, tok) != 0)
            k++;
        if (k == FAULT_KINDS) {
            fprintf(stderr, "raftmq-faults: unknown fault kind '%s' (see --help)\n", tok);
            return -1;
        }
        enabled[k] = true;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'B'},   {"admin", required_argument, NULL, 'A'},
        {"work", required_argument, NULL, 'w'},     {"nodes", required_argument, NULL, 'n'},
        {"replicas", required_argument, NULL, 'r'}, {"partitions", required_argument, NULL, 'p'},
        {"producers", required_argument, NULL, 'P'}, {"rate", required_argument, NULL, 'R'},
        {"duration", required_argument, NULL, 'd'}, {"seed", required_argument, NULL, 's'},
        {"faults", required_argument, NULL, 'f'},   {"netns", no_argument, NULL, 'N'},
        {"expect-violation", no_argument, NULL, 'X'}, {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (struct options){.broker = "build/test/bin/raftmq-broker",
                          .admin = "build/bin/raftmq-admin",
                          .nodes = 3, .replicas = 3, .partitions = 3, .producers = 4, .rate = 300,
                          .duration_s = 60};
    uint64_t seed = 0;
    bool have_seed = false;
    parse_faults("all", o->enabled);
    int c, which = -1;
    while ((c = getopt_long(argc, argv, "h", longopts, &which)) != -1) {
        bool ok = true;
        switch (c) {
        case 'B': o->broker = optarg; break;
        case 'A': o->admin = optarg; break;
        case 'w': o->work_dir = optarg; break;
        case 'n': ok = parse_u32(optarg, 3, NODES_MAX, &o->nodes); break;
        case 'r': ok = parse_u32(optarg, 1, NODES_MAX, &o->replicas); break;
        case 'p': ok = parse_u32(optarg, 1, PARTITIONS_MAX, &o->partitions); break;
        case 'P': ok = parse_u32(optarg, 1, PRODUCERS_MAX, &o->producers); break;
        case 'R': ok = parse_u32(optarg, 1, 100000, &o->rate); break;
        case 'd': ok = parse_u32(optarg, 1, 7 * 24 * 3600, &o->duration_s); break;
        case 's': {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            ok = errno == 0 && end != optarg && *end == '\0';
            have_seed = true;
            break;
        }
        case 'f': ok = parse_faults(optarg, o->enabled) == 0; break;
        case 'N': o->netns = true; break;
        case 'X': o->expect_violation = true; break;
        case 'k': o->keep = true; break;
        case 'h': usage(stdout); return 1;
        default: ok = false; break;
        }
        if (!ok) {
            if (optarg != NULL && which >= 0)
                fprintf(stderr, "raftmq-faults: --%s: bad value '%s' (see --help for the range)\n",
                        longopts[which].name, optarg);
            else
                fprintf(stderr, "raftmq-faults: unknown option; try --help\n");
            return -1;
        }
        which = -1;
    }
    if (optind < argc) {
        fprintf(stderr, "raftmq-faults: unexpected argument '%s'; try --help\n", argv[optind]);
        return -1;
    }
    if (o->replicas > o->nodes) {
        fprintf(stderr, "raftmq-faults: --replicas %u is more than --nodes %u\n", o->replicas, o->nodes);
        return -1;
    }
    o->seed = have_seed ? seed : (uint64_t)wire_wall_ms() ^ ((uint64_t)getpid() << 32);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    start_ms = wire_mono_ms();
    rng_state = o.seed != 0 ? o.seed : 0x9e3779b97f4a7c15ull;
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    signal(SIGPIPE, SIG_IGN);

    char work_buf[PATH_MAX];
    bool made_work = false;
    if (o.work_dir == NULL) {
        snprintf(work_buf, sizeof work_buf, "%s/raftmq-faults.XXXXXX",
                 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
        if (mkdtemp(work_buf) == NULL) {
            perror("raftmq-faults: mkdtemp");
            return 2;
        }
        o.work_dir = work_buf;
        made_work = true;
    } else if (mkdir(o.work_dir, 0755) != 0 && errno != EEXIST) {
        perror("raftmq-faults: --work");
        return 2;
    }

    enum fault_kind kinds[FAULT_KINDS];
    uint32_t n_kinds = 0;
    char kind_list[256] = "";
    for (int k = 0; k < FAULT_KINDS; k++) {
        if (!o.enabled[k])
            continue;
        if (fault_info[k].needs_network && !o.netns) {
            printf("raftmq-faults: SKIPPING %s faults: they need a network namespace of their own "
                   "(run as root through tests/faults/run.sh)\n", fault_info[k].name);
            o.enabled[k] = false;
            continue;
        }
        kinds[n_kinds++] = (enum fault_kind)k;
        snprintf(kind_list + strlen(kind_list), sizeof kind_list - strlen(kind_list), "%s%s",
                 n_kinds > 1 ? "," : "", fault_info[k].name);
    }
    printf("raftmq-faults: seed %" PRIu64 ", %u s of faults (%s), %u brokers, topic %s with %u "
           "partitions x %u replicas, %u producers x %u records/s, work dir %s\n",
           o.seed, o.duration_s, n_kinds > 0 ? kind_list : "none", o.nodes, TOPIC, o.partitions,
           o.replicas, o.producers, o.rate, o.work_dir);

    static struct cluster cl;
    cl.o = &o;
    cl.n = o.nodes;
    struct shared sh = {.o = &o, .active_fault = FAULT_KINDS};
    pthread_mutex_init(&sh.lock, NULL);
    uint64_t sends_max = (uint64_t)o.rate * (o.duration_s + 300) + 10000;
    sh.checker = checker_create(o.producers, sends_max, o.partitions);
    if (sh.checker == NULL) {
        fprintf(stderr, "raftmq-faults: cannot allocate the history\n");
        return 2;
    }
    if (cluster_addresses(&cl) != 0) {
        fprintf(stderr, "raftmq-faults: no free ports\n");
        return 2;
    }
    sh.brokers = cl.brokers;
    if (o.netns && net_setup() != 0) {
        fprintf(stderr, "raftmq-faults: cannot set up the nft table (root, in a namespace?)\n");
        return 2;
    }
    int exit_code = 2;
    struct producer_thread producers[PRODUCERS_MAX];
    struct consumer_thread consumer = {.sh = &sh};
    uint32_t started_producers = 0;
    bool consumer_started = false;
    struct recovery_stats rec = {.worst_kind = FAULT_KINDS};
    struct replica_stats rs = {0};
    uint64_t drained = 0;
    char problem_at_setup[16] = "";

    if (cluster_start(&cl) != 0) {
        fprintf(stderr, "raftmq-faults: the cluster did not start (logs in %s)\n", o.work_dir);
        snprintf(problem_at_setup, sizeof problem_at_setup, "start");
        goto cleanup;
    }
    char parts[16], reps[16];
    snprintf(parts, sizeof parts, "%u", o.partitions);
    snprintf(reps, sizeof reps, "%u", o.replicas);
    if (admin(&cl, NULL, 0, "topic", "create", TOPIC, "--partitions", parts, "--replicas", reps,
              NULL) != 0) {
        fprintf(stderr, "raftmq-faults: cannot create the topic (logs in %s)\n", o.work_dir);
        snprintf(problem_at_setup, sizeof problem_at_setup, "topic");
        goto cleanup;
    }
    for (uint32_t i = 0; i < o.producers; i++) {
        producers[i] = (struct producer_thread){.sh = &sh, .id = i, .idempotent = i % 2 == 0,
                                                .seq_max = sends_max,
                                                .rng = o.seed * 31 + i + 1};
        checker_producer(sh.checker, i, producers[i].idempotent);
        if (pthread_create(&producers[i].thread, NULL, producer_main, &producers[i]) != 0)
            goto cleanup;
        started_producers++;
    }
    if (pthread_create(&consumer.thread, NULL, consumer_main, &consumer) != 0)
        goto cleanup;
    consumer_started = true;

    /* Writes flow before the first fault. */
    int64_t warm = wait_recovery(&sh, o.partitions, wire_wall_ms());
    if (warm < 0) {
        problem(&cl, "no writes acknowledged on every partition within %d ms of start",
                RECOVERY_BOUND_MS);
        rec.not_recovered++;
    }
    say("writes flowing (%" PRId64 " ms); faults start", warm);

    int64_t faults_end = wire_mono_ms() + (int64_t)o.duration_s * 1000;
    while (n_kinds > 0 && wire_mono_ms() < faults_end && !interrupted) {
        enum fault_kind kind = kinds[rng_below(n_kinds)];
        cluster_reap(&cl);
        pthread_mutex_lock(&sh.lock);
        sh.active_fault = kind;
        sh.fault_silence_ms = 0;
        pthread_mutex_unlock(&sh.lock);
        int64_t healed = inject(&cl, kind);
        rec.faults[kind]++;
        int64_t took = wait_recovery(&sh, o.partitions, healed);
        cluster_reap(&cl);
        if (took < 0) {
            problem(&cl, "writes did not succeed on every partition within %d ms after %s",
                    RECOVERY_BOUND_MS, fault_info[kind].name);
            rec.not_recovered++;
        } else {
            pthread_mutex_lock(&sh.lock);
            int64_t silence = sh.fault_silence_ms;
            int silent_partition = sh.fault_silence_partition;
            pthread_mutex_unlock(&sh.lock);
            say("  healed; writes acknowledged on every partition %.2f s later; longest silence "
                "%.2f s (partition %d)", took / 1000.0, silence / 1000.0, silent_partition);
            if (took > rec.worst_ms[kind])
                rec.worst_ms[kind] = took;
            if (took > rec.worst_overall_ms) {
                rec.worst_overall_ms = took;
                rec.worst_kind = kind;
            }
        }
        pthread_mutex_lock(&sh.lock);
        sh.active_fault = FAULT_KINDS;
        pthread_mutex_unlock(&sh.lock);
        nap_ms(rng_between_ms(500, 2000));
    }
    if (n_kinds == 0)
        nap_ms(o.duration_s * 1000);

    /* Heal everything, let the producers finish, then read it all back. */
    say("faults over: healing, flushing the producers");
    if (o.netns)
        net_heal();
    cluster_reap(&cl);
    atomic_store(&sh.stop_producing, true);
    for (uint32_t i = 0; i < started_producers; i++)
        pthread_join(producers[i].thread, NULL);
    started_producers = 0;
    for (uint32_t i = 0; i < o.producers; i++)
        if (producers[i].error[0] != '\0')
            problem(&cl, "producer %u could not start: %s", i, producers[i].error);
    atomic_store(&sh.stop_consuming, true);
    pthread_join(consumer.thread, NULL);
    consumer_started = false;
    say("draining every partition from offset 0");
    if (drain(&sh, o.partitions, &drained) != 0)
        problem(&cl, "the final drain did not reach every partition's end within %d ms",
                DRAIN_BOUND_MS);
    /* A quiet moment for the followers to catch up, then a clean stop and the replicas' logs. */
    nap_ms(2000);
    cluster_reap(&cl);
    for (uint32_t i = 0; i < cl.n; i++)
        node_stop(&cl, &cl.nodes[i], SIGTERM, 0);
    say("comparing the replicas' logs");
    compare_replicas(&cl, &rs);
    uint32_t log_reports = scan_logs(&cl);

    struct checker_result cr;
    printf("\nproblems in the history:\n");
    pthread_mutex_lock(&sh.lock);
    if (checker_run(sh.checker, &cr, 5, print_problem, NULL) != 0) {
        printf("  the history is unusable: %s\n", checker_last_error(sh.checker));
        cr.ok = false;
    }
    pthread_mutex_unlock(&sh.lock);

    printf("\n==== raftmq-faults summary (seed %" PRIu64 ") ====\n", o.seed);
    printf("faults injected:");
    uint32_t total_faults = 0;
    for (int k = 0; k < FAULT_KINDS; k++)
        if (rec.faults[k] > 0) {
            printf(" %s %u", fault_info[k].name, rec.faults[k]);
            total_faults += rec.faults[k];
        }
    printf(" (total %u; %u of the network faults had a process fault inside)\n", total_faults,
           compound_faults);
    printf("records: attempted %" PRIu64 ", acknowledged %" PRIu64 ", failed %" PRIu64
           " (in the log anyway %" PRIu64 "), read back %" PRIu64 ", read live %" PRIu64
           "; sends refused at once %" PRIu64 "\n", cr.sent, cr.acked, cr.failed,
           cr.failed_but_present, cr.read_final, consumer.records, sh.refused);
    printf("lost %" PRIu64 " (must be 0), at another offset %" PRIu64 " (must be 0), unexpected %"
           PRIu64 " (must be 0), unreported %" PRIu64 " (must be 0)\n",
           cr.lost, cr.wrong_offset, cr.unexpected, cr.unreported);
    printf("duplicates: idempotent producers %" PRIu64 " (must be 0), others %" PRIu64
           " explained by retries, %" PRIu64 " unexplained (must be 0)\n",
           cr.duplicates_idempotent, cr.duplicates_explained, cr.duplicates_unexplained);
    printf("order: offset gaps %" PRIu64 ", producer order violations %" PRIu64
           ", live reads not in the final log %" PRIu64 " (all must be 0)\n",
           cr.gaps, cr.order_violations, cr.live_mismatch);
    printf("replicas: %u groups, %" PRIu64 " committed entries compared, divergent %u (must be 0),"
           " lagging %u\n", rs.groups, rs.entries_compared, rs.divergent, rs.lagging);
    printf("brokers: unprompted exits %u, planned stops that went wrong %u, sanitizer/assertion "
           "reports %u (all must be 0)\n", cl.unexpected_exits, cl.bad_exits, log_reports);
    printf("recovery: longest wait for writes after a fault %.2f s%s%s; not recovered within "
           "%d s: %u (must be 0)\n", rec.worst_overall_ms / 1000.0,
           rec.worst_kind < FAULT_KINDS ? " after " : "",
           rec.worst_kind < FAULT_KINDS ? fault_info[rec.worst_kind].name : "",
           RECOVERY_BOUND_MS / 1000, rec.not_recovered);
    printf("unavailability by fault: the longest a partition went without an acknowledgment "
           "while it was under way or healing, and the longest wait for writes after healing\n");
    for (int k = 0; k < FAULT_KINDS; k++)
        if (rec.faults[k] > 0)
            printf("  %-9s silence %6.2f s, after healing %5.2f s\n", fault_info[k].name,
                   sh.worst_silence_ms[k] / 1000.0, rec.worst_ms[k] / 1000.0);
    printf("  %-9s silence %6.2f s\n", "no fault", sh.worst_silence_ms[FAULT_KINDS] / 1000.0);

    if (sh.history_errors > 0)
        printf("history: %" PRIu64 " calls refused by the checker (the verdict is void): %s\n",
               sh.history_errors, sh.history_error);
    bool passed = cr.ok && sh.history_errors == 0 && rs.divergent == 0 && cl.unexpected_exits == 0 && cl.bad_exits == 0 &&
                  log_reports == 0 && rec.not_recovered == 0 && cl.problem_count == 0 &&
                  !interrupted;
    printf("RESULT: %s%s\n", passed ? "PASS" : "FAIL",
           o.expect_violation ? " (a self-test: a failure is what it expects)" : "");
    if (!passed) {
        printf("replay: tests/faults/run.sh --seed %" PRIu64 " --duration %u --faults %s "
               "--nodes %u --replicas %u --partitions %u --producers %u --rate %u\n"
               "(the schedule repeats; the timing of the processes does not, exactly)\n",
               o.seed, o.duration_s, kind_list[0] != '\0' ? kind_list : "all", o.nodes,
               o.replicas, o.partitions, o.producers, o.rate);
        for (uint32_t i = 0; i < cl.problem_count && i < PROBLEMS_SHOWN; i++)
            printf("  problem: %s\n", cl.problems[i]);
    }
    exit_code = passed ? 0 : 1;

cleanup:
    if (problem_at_setup[0] != '\0')
        exit_code = 2;
    atomic_store(&sh.stop_producing, true);
    atomic_store(&sh.stop_consuming, true);
    for (uint32_t i = 0; i < started_producers; i++)
        pthread_join(producers[i].thread, NULL);
    if (consumer_started)
        pthread_join(consumer.thread, NULL);
    cluster_kill_all(&cl);
    if (o.netns)
        nft("delete table inet " NFT_TABLE);
    checker_destroy(sh.checker);
    /* Kept when something failed, except in the self-test, where failing is the point. */
    bool expected = o.expect_violation ? exit_code == 1 : exit_code == 0;
    if (expected && made_work && !o.keep) {
        char *argv_rm[] = {(char *)"rm", (char *)"-rf", (char *)o.work_dir, NULL};
        run_command(argv_rm, NULL, 0, 60000);
    } else {
        printf("work directory (broker logs, data) kept: %s\n", o.work_dir);
    }
    if (o.expect_violation && exit_code != 2) {
        printf("self-test: %s\n", exit_code == 1 ? "the broken build was caught (as it must be)"
                                                 : "the broken build was NOT caught");
        return exit_code == 1 ? 0 : 1;
    }
    return exit_code;
}
