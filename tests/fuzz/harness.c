/*
 * harness.c - the libFuzzer entry point. `make fuzz` compiles this file once
 * per target with -DFUZZ_ENTRY=fuzz_<target> (see tests/fuzz_targets.h), so
 * build-fuzz/fuzz_<target> runs exactly the code the regression replay in
 * tests/test_regressions.c runs.
 */
#include <stdlib.h>

#include "fuzz_targets.h"

#ifndef FUZZ_ENTRY
#error "compile with -DFUZZ_ENTRY=fuzz_<target>"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    atexit(fuzz_targets_cleanup); /* the scratch folder of the file-based targets */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FUZZ_ENTRY(data, size); /* its status matters to the replay only */
    return 0;
}
