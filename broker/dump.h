/* Offline dump of a broker's data directory. */
#ifndef RAFTMQ_BROKER_DUMP_H
#define RAFTMQ_BROKER_DUMP_H

#include <stdio.h>

/* Prints every group and stored entry under data_dir; 0 on success. */
int broker_dump(const char *data_dir, FILE *out);

#endif
