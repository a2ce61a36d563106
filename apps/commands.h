/*
 * commands.h - the sub-commands of maskdet. Each lives in apps/cmd_NAME.c and
 * is listed in the table in maskdet.c. A command gets argv with argv[0] set to
 * its own name, prints its own --help, and returns the process exit code
 * (0 ok, 1 failure, 2 usage error).
 */
#ifndef APPS_COMMANDS_H
#define APPS_COMMANDS_H

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} maskdet_command;

#endif
