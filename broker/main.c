/* raftmq-broker: one node of a raftmq cluster (or, with no arguments, a whole single-node cluster). */
#include <stdio.h>
#include <string.h>

#include "broker/blog.h"
#include "broker/broker.h"
#include "broker/dump.h"

static int dump_main(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: raftmq-broker dump --data-dir DIR\n"
                   "Prints every Raft group and stored entry of a stopped broker's data directory:\n"
                   "  group GROUP_ID NAME first=F last=L commit=C\n"
                   "  entry GROUP_ID INDEX TERM TYPE FIRST_OFFSET OFFSET_COUNT PAYLOAD_CRC32C\n"
                   "Replicas agree when their entry lines up to the smaller commit index are identical.\n");
            return 0;
        }
        if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strncmp(argv[i], "--data-dir=", 11) == 0)
            dir = argv[i] + 11;
        else {
            fprintf(stderr, "raftmq-broker dump: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "raftmq-broker dump: --data-dir DIR is required\n");
        return 2;
    }
    return broker_dump(dir, stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dump") == 0)
        return dump_main(argc, argv);
    struct broker_config cfg;
    char err[1024];
    int rc = broker_config_parse_args(&cfg, argc, argv, stdout, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "raftmq-broker: %s\n(see raftmq-broker --help)\n", err);
        return 2;
    }
    blog_init(cfg.node_id, cfg.log_level, stderr);
    /* The effective configuration, in config-file form, at debug level. */
    if (BLOG_ENABLED(BLOG_DEBUG)) {
        fprintf(stderr, "# raftmq-broker node %u, effective configuration:\n", cfg.node_id);
        broker_config_write(&cfg, stderr);
    }
    return broker_run(&cfg);
}
