/*
 * maskdet.c - the command-line program: entry point and sub-command dispatch.
 */
#include <stdio.h>
#include <string.h>

#include "nn.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: maskdet COMMAND [options]\n"
            "\n"
            "Face-mask detection built on a from-scratch C neural-network framework.\n"
            "\n"
            "commands:\n"
            "  help                 show this text\n"
            "  version              print the version and the SIMD kernels in use\n"
            "\n"
            "Run 'maskdet COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("maskdet 0.1 (kernels: %s, threads: %d)\n", nn_kernels_get()->name, nn_threads_get());
        return 0;
    }
    fprintf(stderr, "maskdet: unknown command '%s' (see 'maskdet --help')\n", argv[1]);
    return 2;
}
