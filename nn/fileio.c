/*
 * fileio.c - the two file operations every loader and saver shares:
 * reading a whole file with a size limit, and replacing a file atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nn.h"

nn_status nn_read_file(const char *path, size_t max_bytes, char **data, size_t *len,
                       nn_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_error_set(err, errno == ENOENT ? NN_ERR_NOT_FOUND : NN_ERR_IO,
                            "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return nn_error_set(err, NN_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        fclose(f);
        return nn_error_set(err, NN_ERR_LIMIT, "%s: %lld bytes is over the limit of %zu", path,
                            (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return nn_error_set(err, NN_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    /* A file that shrinks while we read it yields fewer bytes: the parsers
     * then report it as truncated, which is what it is. */
    size_t got = fread(buf, 1, n, f);
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return nn_error_set(err, NN_ERR_IO, "%s: read error", path);
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return NN_OK;
}

/* fsync of the directory holding path, so the rename itself is durable. */
static int sync_parent_dir(const char *path) {
    char *dir = strdup(path);
    if (!dir) return -1;
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Creates "<path>.tmp.<pid>.<salt>" beside the target (rename must not cross
 * file systems) with O_EXCL, so two writers, even threads of one process,
 * never share a temp file; permissions are the usual 0666 & ~umask. */
static int open_temp_file(const char *path, char *tmp, size_t n) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t salt = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 30) ^ (uintptr_t)tmp;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, n, "%s.tmp.%ld.%llx", path, (long)getpid(),
                 (unsigned long long)((salt + (uint64_t)attempt * 0x9E3779B97F4A7C15ULL) >> 16));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

nn_status nn_write_file_atomic(const char *path, bool (*write_fn)(FILE *f, void *arg), void *arg,
                               bool durable, nn_error *err) {
    if (!path || !*path) return nn_error_set(err, NN_ERR_ARG, "write: empty path");
    size_t tmp_len = strlen(path) + 48;
    char *tmp = malloc(tmp_len);
    if (!tmp) return nn_error_set(err, NN_ERR_NOMEM, "%s: out of memory", path);
    nn_status st = NN_OK;
    int fd = open_temp_file(path, tmp, tmp_len);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        st = nn_error_set(err, NN_ERR_IO, "cannot create a temporary file beside %s: %s", path,
                          strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        goto done;
    }
    errno = 0;
    bool ok = write_fn(f, arg) && fflush(f) == 0 && (!durable || fsync(fileno(f)) == 0);
    int saved_errno = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        saved_errno = errno;
    }
    if (!ok) {
        st = nn_error_set(err, NN_ERR_IO, "cannot write %s: %s", tmp,
                          saved_errno ? strerror(saved_errno) : "write failed");
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = nn_error_set(err, NN_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (durable && sync_parent_dir(path) != 0)
        st = nn_error_set(err, NN_ERR_IO, "wrote %s but could not fsync its directory: %s", path,
                          strerror(errno));
done:
    free(tmp);
    return st;
}
