/* Clocks and sleeps of the client side, the tools and the tests: one definition instead of one per file. */
#ifndef RAFTMQ_WIRE_CLOCK_H
#define RAFTMQ_WIRE_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time (deadlines, intervals, latencies). */
static inline int64_t wire_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t wire_mono_ms(void)
{
    return wire_mono_ns() / 1000000;
}

/* Wall-clock time in ms since the epoch (record timestamps). */
static inline int64_t wire_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps `ms` milliseconds (nothing when <= 0), resuming after a signal. */
static inline void wire_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#endif
