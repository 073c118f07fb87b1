/* raftmq-bench group: consumer-group rebalance times and group read throughput. */
#ifndef RAFTMQ_BENCH_GROUP_BENCH_H
#define RAFTMQ_BENCH_GROUP_BENCH_H

/* argv[0] is "group"; returns the exit status (TOOL_EXIT_*). */
int group_bench_main(int argc, char **argv);

#endif
