/* The Check suites of the unit-test runner: one constructor per tested module. */
#ifndef RAFTMQ_TESTS_UNIT_SUITES_H
#define RAFTMQ_TESTS_UNIT_SUITES_H

#include <check.h>

Suite *errors_suite(void);
Suite *crc32c_suite(void);
Suite *mp_suite(void);
Suite *frame_suite(void);
Suite *vectors_suite(void);
Suite *batch_suite(void);
Suite *raft_suite(void);
Suite *storage_suite(void);
Suite *storage_crash_suite(void);
Suite *power_loss_suite(void);
Suite *config_suite(void);
Suite *peer_codec_suite(void);
Suite *metadata_suite(void);
Suite *assignor_suite(void);
Suite *pstate_suite(void);
Suite *client_suite(void);
Suite *tool_suite(void);
Suite *histogram_suite(void);
Suite *producer_suite(void);
Suite *consumer_suite(void);
Suite *group_consumer_suite(void);
Suite *checker_suite(void);
Suite *cgroup_suite(void);

#endif
