/*
 * Runs every unit-test suite. Check forks each test, so a crash or a failed
 * assertion inside the code under test fails that test only; the sanitizers
 * (ASan, UBSan, LSan in the test build) turn memory errors and leaks into
 * failures of the test that caused them.
 *
 * Usage: raftmq-unit-tests [SUITE]   (runs one suite by name, e.g. "batch")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static const struct {
    const char *name;
    Suite *(*make)(void);
} suites[] = {
    {"errors", errors_suite}, {"crc32c", crc32c_suite}, {"mp", mp_suite},
    {"frame", frame_suite},   {"vectors", vectors_suite}, {"batch", batch_suite},
    {"raft", raft_suite},
    {"storage", storage_suite}, {"storage_crash", storage_crash_suite},
    {"power_loss", power_loss_suite},
    {"config", config_suite},
    {"peer_codec", peer_codec_suite},
    {"metadata", metadata_suite},
    {"assignor", assignor_suite},
    {"pstate", pstate_suite},
    {"client", client_suite},
    {"tool", tool_suite},
    {"histogram", histogram_suite},
    {"producer", producer_suite},
    {"consumer", consumer_suite},
    {"group_consumer", group_consumer_suite},
    {"checker", checker_suite},
    {"cgroup", cgroup_suite},
};

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    SRunner *runner = NULL;
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        if (only != NULL && strcmp(only, suites[i].name) != 0)
            continue;
        Suite *s = suites[i].make();
        if (runner == NULL)
            runner = srunner_create(s);
        else
            srunner_add_suite(runner, s);
    }
    if (runner == NULL) {
        fprintf(stderr, "no suite named '%s'\n", only);
        return 2;
    }
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
