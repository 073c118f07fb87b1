/* The group-commit thread (see syncer.h for the protocol). */
#include "syncer.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "errors.h"
#include "internal.h"
#include "limits.h"
#include "log.h"

/* A ring of log pointers; each log is in it at most once, so logs_max slots suffice. */
struct ring {
    struct storage_log **slots;
    size_t cap, head, count;
};

static void ring_push(struct ring *r, struct storage_log *log)
{
    assert(r->count < r->cap);
    r->slots[(r->head + r->count) % r->cap] = log;
    r->count++;
}

static struct storage_log *ring_pop(struct ring *r)
{
    assert(r->count > 0);
    struct storage_log *log = r->slots[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return log;
}

static void ring_remove(struct ring *r, struct storage_log *log)
{
    size_t n = r->count;
    for (size_t i = 0; i < n; i++) {
        struct storage_log *x = ring_pop(r);
        if (x != log)
            ring_push(r, x);
    }
}

struct storage_syncer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* requests arrived, or stop */
    pthread_cond_t done; /* `current` changed */
    struct ring requests;
    struct ring completions;
    struct storage_log *current; /* being synced by the thread, or NULL */
    size_t logs, logs_max;
    int stop;
    int efd;
    uint64_t fsyncs;
};

static void notify(struct storage_syncer *s)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(s->efd, &one, sizeof(one));
    while (n < 0 && errno == EINTR);
    /* EAGAIN means the counter is saturated: it is readable anyway. */
}

/* Lock held. */
static void complete_locked(struct storage_syncer *s, struct storage_log *log)
{
    struct storage__sync_link *link = storage__log_link(log);
    if (!link->completion) {
        link->completion = 1;
        ring_push(&s->completions, log);
    }
}

static void *syncer_main(void *arg)
{
    struct storage_syncer *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->requests.count == 0 && !s->stop)
            pthread_cond_wait(&s->wake, &s->lock);
        if (s->requests.count == 0)
            break;
        struct storage_log *log = ring_pop(&s->requests);
        storage__log_link(log)->queued = 0;
        s->current = log;
        pthread_mutex_unlock(&s->lock);

        /* Everything appended up to now shares this sync: the group commit. */
        unsigned calls = 0;
        /* Data first: a hard state's commit index never runs ahead of it. */
        storage__log_sync_flushed(log, &calls);
        storage__log_save_pending_hardstate(log, &calls);

        pthread_mutex_lock(&s->lock);
        s->fsyncs += calls;
        s->current = NULL;
        complete_locked(s, log);
        pthread_cond_broadcast(&s->done);
        notify(s);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

void storage__cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

struct timespec storage__deadline_ms(unsigned ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

int storage_syncer_create(size_t logs_max, struct storage_syncer **out)
{
    *out = NULL;
    if (logs_max == 0 || logs_max > STORAGE_SYNCER_LOGS_MAX)
        return STORAGE_ERR_INVALID;
    struct storage_syncer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return STORAGE_ERR_NOMEM;
    s->logs_max = logs_max;
    s->requests.cap = s->completions.cap = logs_max;
    s->requests.slots = calloc(logs_max, sizeof(struct storage_log *));
    s->completions.slots = calloc(logs_max, sizeof(struct storage_log *));
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->requests.slots == NULL || s->completions.slots == NULL || s->efd < 0)
        goto fail;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    storage__cond_init_monotonic(&s->done);
    if (pthread_create(&s->thread, NULL, syncer_main, s) != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->wake);
        pthread_cond_destroy(&s->done);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    if (s->efd >= 0)
        close(s->efd);
    free(s->requests.slots);
    free(s->completions.slots);
    free(s);
    return STORAGE_ERR_NOMEM;
}

void storage_syncer_destroy(struct storage_syncer *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    assert(s->logs == 0 && "close every log before its syncer");
    s->stop = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->done);
    close(s->efd);
    free(s->requests.slots);
    free(s->completions.slots);
    free(s);
}

int storage_syncer_fd(struct storage_syncer *s)
{
    return s->efd;
}

size_t storage_syncer_poll(struct storage_syncer *s, struct storage_completion *out, size_t cap)
{
    uint64_t counter;
    ssize_t n = read(s->efd, &counter, sizeof(counter));
    (void)n; /* EAGAIN: nothing signalled, but a completion may still be queued */
    size_t got = 0;
    pthread_mutex_lock(&s->lock);
    while (got < cap && s->completions.count > 0) {
        struct storage_log *log = ring_pop(&s->completions);
        storage__log_link(log)->completion = 0;
        out[got].log = log;
        out[got].user_data = storage_log_user_data(log);
        got++;
    }
    int more = s->completions.count > 0;
    pthread_mutex_unlock(&s->lock);
    /* Read the log's state after leaving the syncer's lock (lock order: log, then syncer never both). */
    for (size_t i = 0; i < got; i++) {
        out[i].durable_index = storage_log_durable_index(out[i].log);
        out[i].hardstate_saved = storage_log_hardstate_saved(out[i].log);
        out[i].err = storage_log_failed(out[i].log);
    }
    if (more)
        notify(s); /* keep the fd readable for the rest */
    return got;
}

uint64_t storage_syncer_fsync_count(struct storage_syncer *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->fsyncs;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int storage__syncer_attach(struct storage_syncer *s)
{
    pthread_mutex_lock(&s->lock);
    int rc = s->logs < s->logs_max ? 0 : STORAGE_ERR_FULL;
    if (rc == 0)
        s->logs++;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int storage__syncer_detach(struct storage_syncer *s, struct storage_log *log, unsigned wait_ms)
{
    pthread_mutex_lock(&s->lock);
    struct storage__sync_link *link = storage__log_link(log);
    if (link->queued) {
        ring_remove(&s->requests, log);
        link->queued = 0;
    }
    struct timespec deadline = storage__deadline_ms(wait_ms);
    while (s->current == log) {
        if (pthread_cond_timedwait(&s->done, &s->lock, &deadline) == ETIMEDOUT &&
            s->current == log) {
            pthread_mutex_unlock(&s->lock);
            return STORAGE_ERR_IO; /* a hung fdatasync: the log stays ours */
        }
    }
    if (link->completion) {
        ring_remove(&s->completions, log);
        link->completion = 0;
    }
    assert(s->logs > 0);
    s->logs--;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int storage__syncer_request(struct storage_syncer *s, struct storage_log *log)
{
    pthread_mutex_lock(&s->lock);
    struct storage__sync_link *link = storage__log_link(log);
    if (!link->queued) {
        link->queued = 1;
        ring_push(&s->requests, log);
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void storage__syncer_complete(struct storage_syncer *s, struct storage_log *log)
{
    pthread_mutex_lock(&s->lock);
    complete_locked(s, log);
    pthread_mutex_unlock(&s->lock);
    notify(s);
}
