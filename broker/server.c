/* The broker's event loop: zmq_poll over the client and peer sockets, the storage syncer's eventfd and a signalfd, with millisecond ticks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "broker/blog.h"
#include "broker/broker.h"
#include "broker/storage/file.h"

/* Housekeeping (timeouts) and slower chores (compaction, hard-state saves, retention). */
#define HOUSEKEEPING_MS 10u
#define CHORES_MS 1000u
/*
 * How long the loop sleeps when nothing happens. A Raft tick is still 1 ms
 * (tick_all delivers the elapsed ones); sleeping 5 ms instead of 1 cuts an
 * idle broker's wake-ups, and so its CPU, about fivefold, and makes more
 * groups' heartbeats leave in the same coalesced message, at the price of
 * up to 5 ms of jitter on heartbeats and election timeouts.
 */
#define BROKER_POLL_MS 5
/* While stopping, how often a leader retries handing its groups away. */
#define STOP_TRANSFER_RETRY_MS 300u
/* Consumer-group expiry check interval (coordinator.c). */
#define COORD_TICK_MS 100u

uint64_t broker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t broker_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int broker_set_sockopt_int(void *sock, int option, int value)
{
    return zmq_setsockopt(sock, option, &value, sizeof value);
}

int broker_recv_routed(void *router, zmq_msg_t *id, zmq_msg_t *body)
{
    zmq_msg_init(id);
    zmq_msg_init(body);
    if (zmq_msg_recv(id, router, ZMQ_DONTWAIT) < 0)
        return 0;
    bool ok = zmq_msg_more(id) && zmq_msg_recv(body, router, ZMQ_DONTWAIT) >= 0 &&
              zmq_msg_size(id) <= BROKER_ROUTING_ID_BYTES_MAX;
    /* Peers and clients send single-part messages: drop any further parts. */
    int more = ok ? zmq_msg_more(body) : zmq_msg_more(id);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        int rc = zmq_msg_recv(&extra, router, ZMQ_DONTWAIT);
        more = rc >= 0 && zmq_msg_more(&extra);
        zmq_msg_close(&extra);
    }
    return ok ? 1 : -1;
}

const struct broker_node *broker_node(const struct broker *b, uint32_t id)
{
    return broker_config_node(&b->cfg, id);
}

void broker_mark_dirty(struct group *g)
{
    if (g->dirty)
        return;
    g->dirty = true;
    g->next_dirty = g->b->dirty_head;
    g->b->dirty_head = g;
}

static void process_dirty(struct broker *b)
{
    /*
     * One group at a time off the shared list, never a private copy of it:
     * applying a metadata op (a DELETE_TOPIC) closes and frees groups, and
     * broker_remove_group can only unlink them from b->dirty_head. Groups
     * marked again while processing (a commit, an open) are picked up in
     * the same call, up to a bound; the rest wait for the next loop turn.
     */
    uint64_t budget = 8u * ((uint64_t)b->glist_count + 1);
    while (b->dirty_head != NULL && budget-- > 0) {
        struct group *g = b->dirty_head;
        b->dirty_head = g->next_dirty;
        g->next_dirty = NULL;
        group_process(g);
    }
}

static void for_each_group(struct broker *b, void (*fn)(struct group *))
{
    fn(b->meta);
    for (uint32_t i = 0; i < b->glist_count; i++)
        fn(b->glist[i]);
}

static void tick_all(struct broker *b)
{
    uint64_t elapsed = b->now_ms - b->last_tick_ms;
    /* After a long stall (SIGSTOP, a slow disk) catch up in one go: the
     * core then sees the time that passed, as it should. */
    if (elapsed > 10000)
        elapsed = 10000;
    for (uint64_t t = 0; t < elapsed; t++)
        for_each_group(b, group_tick);
    b->last_tick_ms = b->now_ms;
}

static void on_completions(struct broker *b)
{
    struct storage_completion done[256];
    size_t n;
    while ((n = storage_syncer_poll(b->syncer, done, 256)) > 0)
        for (size_t i = 0; i < n; i++)
            group_on_durable(done[i].user_data, done[i].durable_index, done[i].hardstate_saved,
                             done[i].err);
}

static void expire(struct group *g)
{
    group_expire_waits(g, g->b->now_ms);
    group_catchup_tick(g);
}

static void chores(struct group *g)
{
    group_housekeeping(g, g->b->now_ms);
}

static void log_peer_changes(struct broker *b)
{
    for (uint32_t i = 0; i < b->n_peers; i++) {
        struct peer *p = &b->peers[i];
        bool up = peer_reachable(b, p->id);
        if (up != p->was_reachable)
            blog(up ? BLOG_INFO : BLOG_WARN, NULL, "node %u is %s (%" PRIu64 " messages dropped so far)",
                 p->id, up ? "reachable" : "unreachable", p->dropped);
        p->was_reachable = up;
    }
}

/* ---- stall detection ------------------------------------------------------------ */

/*
 * A loop turn that takes longer than this is logged with the phase that
 * took longest: a stalled loop delays heartbeats, and followers start
 * elections after election_timeout_min_ms, so this is what to look for
 * when leaders change without a failure.
 */
#define STALL_WARN_MS 50u

struct stall_watch {
    uint64_t started_ms;
    uint64_t last_ms;
    uint64_t worst_ms;
    const char *worst;
};

static void stall_mark(struct stall_watch *sw, const char *phase)
{
    uint64_t now = broker_now_ms();
    if (now - sw->last_ms > sw->worst_ms) {
        sw->worst_ms = now - sw->last_ms;
        sw->worst = phase;
    }
    sw->last_ms = now;
}

static void stall_report(struct broker *b, const struct stall_watch *sw)
{
    uint64_t total = sw->last_ms - sw->started_ms;
    if (total < STALL_WARN_MS)
        return;
    b->stalls++;
    blog(BLOG_WARN, NULL, "event loop stalled for %" PRIu64 " ms, %" PRIu64 " ms of it in %s "
         "(%" PRIu64 " stalls so far)", total, sw->worst_ms, sw->worst, b->stalls);
}

/* ---- stopping ---------------------------------------------------------------- */

/* The most caught-up reachable voter of a group this broker leads, or 0. */
static raft_id_t successor(struct broker *b, struct group *g)
{
    struct raft_status st;
    raft_status(g->raft, &st);
    raft_id_t best = 0;
    raft_index_t best_match = 0;
    for (uint32_t k = 0; k < st.n_progress; k++) {
        const struct raft_server *s = raft_config_find(&st.config, st.progress[k].id);
        if (st.progress[k].id == st.id || s == NULL || s->role != RAFT_VOTER ||
            !peer_reachable(b, (uint32_t)st.progress[k].id) ||
            peer_stopping(b, (uint32_t)st.progress[k].id))
            continue;
        if (best == 0 || st.progress[k].match > best_match) {
            best = st.progress[k].id;
            best_match = st.progress[k].match;
        }
    }
    return best;
}

/* True once no request is waiting and no group is led here that could be
 * handed to a reachable voter; hands groups away (again) as it goes. */
static bool stop_done(struct broker *b)
{
    bool retry = b->now_ms >= b->next_rebalance_ms;
    if (retry)
        b->next_rebalance_ms = b->now_ms + STOP_TRANSFER_RETRY_MS;
    bool done = true;
    for (uint32_t i = 0; i <= b->glist_count; i++) {
        struct group *g = i == 0 ? b->meta : b->glist[i - 1];
        if (g->failed)
            continue;
        if (g->waits_count != 0)
            done = false;
        if (!group_is_leader(g))
            continue;
        raft_id_t to = successor(b, g);
        if (to == 0)
            continue; /* nobody to hand to: stays leader until it stops */
        done = false;
        if (retry && raft_transfer_leadership(g->raft, to) == 0)
            broker_mark_dirty(g);
    }
    return done;
}

static void answer_fetches(struct group *g)
{
    partition_wake_fetches(g, true);
}

static void begin_stop(struct broker *b, int signo)
{
    if (b->stopping) {
        blog(BLOG_WARN, NULL, "second %s: stopping now without handing leadership away",
             strsignal(signo));
        b->stop_deadline_ms = b->now_ms;
        return;
    }
    b->stopping = true;
    b->stop_deadline_ms = b->now_ms + b->cfg.shutdown_timeout_ms;
    b->next_rebalance_ms = b->now_ms;
    blog(BLOG_INFO, NULL, "%s: handing leadership away, finishing in-flight requests (at most %u ms)",
         strsignal(signo), b->cfg.shutdown_timeout_ms);
    for_each_group(b, answer_fetches);
    /* Tell the peers now, so none hands leadership to this broker. */
    b->next_status_ms = b->now_ms;
}

/*
 * test_power_loss (TEST ONLY): the disk as a power loss would leave it,
 * then exit at once: no flush, no sync, no further send, no clean-up, as
 * if the machine had stopped here. Status 137 is what a SIGKILLed process
 * reports, so a test harness treats both as a crash. If a file could not be
 * cut the disk holds more than a power loss would leave, and the test
 * would prove nothing: status 1 then, so that the harness notices.
 */
static _Noreturn void simulate_power_loss(void)
{
    int cut = storage_fs_tracked_power_loss();
    if (cut < 0) {
        blog(BLOG_ERROR, NULL, "simulated power loss: cutting files failed: %s", strerror(-cut));
        _exit(1);
    }
    blog(BLOG_WARN, NULL, "simulated power loss: %d files cut to their synced size", cut);
    _exit(137);
}

/* ---- set-up and the loop -------------------------------------------------------- */

static int open_meta(struct broker *b)
{
    char dir[BROKER_PATH_BYTES_MAX + 16];
    snprintf(dir, sizeof dir, "%s/meta", b->cfg.data_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        blog(BLOG_ERROR, NULL, "data_dir: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    /* Every broker is in the metadata group: the first 5 by id vote, the
     * others follow it as learners (a larger quorum only slows it down). */
    struct raft_config config = {.n = b->cfg.n_nodes};
    for (uint32_t i = 0; i < b->cfg.n_nodes; i++)
        config.servers[i] = (struct raft_server){.id = b->cfg.nodes[i].id,
                                                 .role = i < 5 ? RAFT_VOTER : RAFT_LEARNER};
    return group_open(b, 0, "meta", dir, &config, &b->meta);
}

static int lock_data_dir(struct broker *b)
{
    if (mkdir(b->cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        blog(BLOG_ERROR, NULL, "data_dir: cannot create %s: %s", b->cfg.data_dir, strerror(errno));
        return -1;
    }
    char path[BROKER_PATH_BYTES_MAX + 16];
    snprintf(path, sizeof path, "%s/lock", b->cfg.data_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        blog(BLOG_ERROR, NULL, "data_dir: %s is in use by another broker (%s)", b->cfg.data_dir,
             strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* Record which node owns the directory; refuse another node's data. */
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
        unsigned owner = (unsigned)strtoul(buf, NULL, 10);
        if (owner != 0 && owner != b->cfg.node_id) {
            blog(BLOG_ERROR, NULL, "data_dir: %s belongs to node %u, not node %u", b->cfg.data_dir,
                 owner, b->cfg.node_id);
            close(fd);
            return -1;
        }
    }
    int k = snprintf(buf, sizeof buf, "%u\n", b->cfg.node_id);
    if (pwrite(fd, buf, (size_t)k, 0) != k || ftruncate(fd, k) != 0) {
        blog(BLOG_ERROR, NULL, "data_dir: cannot write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd; /* held open (and locked) until exit */
}

static int alloc_scratch(struct broker *b)
{
    b->arena_buf = malloc(BROKER_ARENA_BYTES);
    b->resp_buf = malloc(WIRE_FRAME_BYTES_MAX);
    b->read_cap = BROKER_FETCH_BYTES_MAX + STORAGE_ENTRY_BYTES_MAX;
    b->read_buf = malloc(b->read_cap);
    b->read_entries_cap = 65536;
    b->read_entries = calloc(b->read_entries_cap, sizeof(*b->read_entries));
    b->step_entries = calloc(BROKER_STEP_ENTRIES_MAX, sizeof(*b->step_entries));
    b->resp_arena_buf = malloc(2 * BROKER_ARENA_BYTES);
    if (b->arena_buf == NULL || b->resp_buf == NULL || b->read_buf == NULL ||
        b->read_entries == NULL || b->step_entries == NULL || b->resp_arena_buf == NULL)
        return -1;
    wire_arena_init(&b->arena, b->arena_buf, BROKER_ARENA_BYTES);
    wire_arena_init(&b->resp_arena, b->resp_arena_buf, 2 * BROKER_ARENA_BYTES);
    return 0;
}

static void free_all(struct broker *b)
{
    for (uint32_t i = 0; i < b->glist_count; i++)
        group_close(b->glist[i], true);
    b->glist_count = 0;
    group_close(b->meta, true);
    b->meta = NULL;
    if (b->zombies != NULL)
        /* The storage thread is stuck in fdatasync on their logs: exiting
         * without joining it is all that is left to do. */
        blog(BLOG_ERROR, NULL, "a hung fdatasync still holds partition storage; "
             "exiting without stopping the storage thread");
    else if (b->syncer != NULL)
        storage_syncer_destroy(b->syncer);
    coord_free(b);
    md_free(&b->md);
    peers_close(b);
    if (b->client_sock != NULL)
        zmq_close(b->client_sock);
    if (b->zctx != NULL)
        zmq_ctx_term(b->zctx);
    if (b->signal_fd >= 0)
        close(b->signal_fd);
    free(b->glist);
    free(b->groups);
    free(b->hints);
    free(b->arena_buf);
    free(b->resp_buf);
    free(b->read_buf);
    free(b->read_entries);
    free(b->step_entries);
    free(b->resp_arena_buf);
}

int broker_run(const struct broker_config *cfg)
{
    struct broker *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return 1;
    b->cfg = *cfg;
    b->signal_fd = -1;
    md_init(&b->md);
    b->now_ms = b->last_tick_ms = broker_now_ms();
    coord_init(b);
    int rc = 1;
    int lock_fd = -1;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (b->cfg.test_power_loss)
        sigaddset(&mask, SIGUSR1);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    b->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    if (b->signal_fd < 0 || alloc_scratch(b) != 0) {
        blog(BLOG_ERROR, NULL, "cannot set up: %s", strerror(errno));
        goto out;
    }
    lock_fd = lock_data_dir(b);
    if (lock_fd < 0)
        goto out;
    b->zctx = zmq_ctx_new();
    if (b->zctx == NULL || storage_syncer_create(STORAGE_SYNCER_LOGS_MAX, &b->syncer) != 0) {
        blog(BLOG_ERROR, NULL, "cannot start ZeroMQ or the storage thread");
        goto out;
    }
    if (clients_open(b) != 0 || peers_open(b) != 0)
        goto out;
    if (open_meta(b) != 0)
        goto out;
#ifdef RAFTMQ_UNSAFE_ACK_BEFORE_COMMIT
    blog(BLOG_ERROR, NULL, "THIS BUILD IS DELIBERATELY UNSAFE: it acknowledges records before "
         "they are committed (RAFTMQ_UNSAFE_ACK_BEFORE_COMMIT, for the fault suite's self-test)");
#endif
    blog(BLOG_INFO, NULL, "serving clients on %s, peers on %s, data in %s, %u node(s), fsync=%s",
         b->cfg.client_listen, b->cfg.peer_listen, b->cfg.data_dir, b->cfg.n_nodes,
         b->cfg.fsync_policy == STORAGE_FSYNC_NEVER ? "never" : "always");
    if (b->cfg.test_power_loss)
        blog(BLOG_WARN, NULL, "test_power_loss is on (TEST ONLY): storage files are tracked, "
             "and SIGUSR1 simulates a power loss");
    broker_mark_dirty(b->meta);
    process_dirty(b);

    uint64_t next_housekeeping = b->now_ms + HOUSEKEEPING_MS;
    uint64_t next_chores = b->now_ms + CHORES_MS;
    b->next_status_ms = b->now_ms;
    b->next_rebalance_ms = b->now_ms + BROKER_REBALANCE_INTERVAL_MS;

    for (;;) {
        zmq_pollitem_t items[4] = {
            {.socket = b->client_sock, .events = ZMQ_POLLIN},
            {.socket = b->peer_sock, .events = ZMQ_POLLIN},
            {.fd = storage_syncer_fd(b->syncer), .events = ZMQ_POLLIN},
            {.fd = b->signal_fd, .events = ZMQ_POLLIN},
        };
        /* Sockets, storage completions and signals wake the loop at once;
         * without them it wakes every BROKER_POLL_MS and delivers the
         * milliseconds that passed as that many Raft ticks (tick_all). */
        if (zmq_poll(items, 4, BROKER_POLL_MS) < 0 && zmq_errno() != EINTR) {
            blog(BLOG_ERROR, NULL, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        b->now_ms = broker_now_ms();
        struct stall_watch sw = {.started_ms = b->now_ms, .last_ms = b->now_ms};
        if (items[3].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo si;
            while (read(b->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGUSR1 && b->cfg.test_power_loss)
                    simulate_power_loss();
                begin_stop(b, (int)si.ssi_signo);
            }
        }
        if (items[2].revents & ZMQ_POLLIN)
            on_completions(b);
        stall_mark(&sw, "storage completions");
        if (items[1].revents & ZMQ_POLLIN)
            peers_receive(b);
        stall_mark(&sw, "peer messages");
        if (items[0].revents & ZMQ_POLLIN)
            clients_receive(b);
        stall_mark(&sw, "client requests");
        tick_all(b);
        if (b->now_ms >= b->next_status_ms) {
            peers_send_status(b);
            log_peer_changes(b);
            b->next_status_ms = b->now_ms + BROKER_STATUS_INTERVAL_MS;
        }
        stall_mark(&sw, "ticks");
        process_dirty(b);
        stall_mark(&sw, "Raft updates (storage appends)");
        if (b->now_ms >= next_housekeeping) {
            for_each_group(b, expire);
            next_housekeeping = b->now_ms + HOUSEKEEPING_MS;
        }
        if (b->now_ms >= next_chores) {
            for_each_group(b, chores);
            next_chores = b->now_ms + CHORES_MS;
        }
        if (b->now_ms >= b->coord_next_tick_ms) {
            coord_tick(b);
            b->coord_next_tick_ms = b->now_ms + COORD_TICK_MS;
        }
        if (!b->stopping && b->now_ms >= b->next_rebalance_ms) {
            control_rebalance_leaders(b);
            b->next_rebalance_ms = b->now_ms + BROKER_REBALANCE_INTERVAL_MS;
        }
        stall_mark(&sw, "housekeeping");
        process_dirty(b);
        peers_flush(b);
        stall_mark(&sw, "Raft updates and sends");
        stall_report(b, &sw);
        if (b->stopping && (stop_done(b) || b->now_ms >= b->stop_deadline_ms)) {
            process_dirty(b);
            peers_flush(b);
            break;
        }
    }
    blog(BLOG_INFO, NULL, "stopping: flushing storage (%" PRIu64 " client responses were dropped, "
         "%" PRIu64 " loop stalls over %u ms)", b->responses_dropped, b->stalls, STALL_WARN_MS);
    rc = 0;
out:
    free_all(b);
    if (lock_fd >= 0)
        close(lock_fd);
    if (rc == 0)
        blog(BLOG_INFO, NULL, "stopped cleanly");
    free(b);
    return rc;
}
