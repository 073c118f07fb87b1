/* Built against an installed libraftmq (tests/install/check.sh): the header, pkg-config and both libraries work. */
#include <raftmq.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    if (strcmp(raftmq_version(), RAFTMQ_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", RAFTMQ_VERSION_STRING, raftmq_version());
        return 1;
    }
    struct raftmq_producer_config pc;
    raftmq_producer_config_init(&pc);
    raftmq_producer *p = NULL;
    char err[256];
    /* No brokers: refused with a message naming the field. */
    if (raftmq_producer_new(&pc, &p, err, sizeof err) != RAFTMQ_ERR_INVALID_REQUEST ||
        strstr(err, "brokers") == NULL) {
        fprintf(stderr, "producer without brokers: '%s'\n", err);
        return 1;
    }
    pc.brokers = "tcp://127.0.0.1:1";
    if (raftmq_producer_new(&pc, &p, err, sizeof err) != RAFTMQ_OK) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    raftmq_producer_close(p);
    struct raftmq_consumer_config cc;
    raftmq_consumer_config_init(&cc);
    cc.brokers = "tcp://127.0.0.1:1";
    raftmq_consumer *c = NULL;
    if (raftmq_consumer_new(&cc, &c, err, sizeof err) != RAFTMQ_OK) {
        fprintf(stderr, "consumer: %s\n", err);
        return 1;
    }
    raftmq_consumer_close(c);
    printf("libraftmq %s: %s\n", raftmq_version(), raftmq_strerror(RAFTMQ_ERR_QUEUE_FULL));
    return 0;
}
