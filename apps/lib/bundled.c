/* bundled.c - see bundled.h */
#include "bundled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bundled_model_path(const char *file, char *path, size_t len) {
    const char *env = getenv("MASKDET_MODELS");
    if (env && *env) {
        snprintf(path, len, "%s/%s", env, file);
        if (access(path, R_OK) == 0) return;
    }
    snprintf(path, len, "models/%s", file);
    if (access(path, R_OK) == 0) return;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0'; /* the program's folder, e.g. build/ */
    char candidate[4200];
    snprintf(candidate, sizeof candidate, "%s/../models/%s", exe, file);
    if (access(candidate, R_OK) == 0) snprintf(path, len, "%s", candidate);
}
