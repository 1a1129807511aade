// Preloaded into `authsec serve` by DurabilityTests: logs, in completion order, every call that
// makes data durable (fdatasync, fsync, msync, and writes to a file opened O_DSYNC/O_SYNC) and
// every write to a socket, one line each: "<event> <fd> <result>". A line is written after the
// call returns, so a `sync` line that precedes a `send` line finished before that send began.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int log_fd = -1;

#define REAL(name) \
    static __typeof__(name) *real_##name; \
    if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static void note(const char *event, int fd, long result) {
    REAL(write);
    if (log_fd < 0) {
        const char *path = getenv("SYNCORDER_LOG");
        if (!path) return;
        log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0) return;
    }
    char line[64];
    int length = snprintf(line, sizeof line, "%s %d %ld\n", event, fd, result);
    real_write(log_fd, line, (size_t)length);
}

static int is_socket(int fd) {
    struct stat status;
    return fd != log_fd && fstat(fd, &status) == 0 && S_ISSOCK(status.st_mode);
}

static int is_synchronous_file(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return fd != log_fd && flags >= 0 && (flags & (O_DSYNC | O_SYNC)) != 0;
}

int fdatasync(int fd) {
    REAL(fdatasync);
    int result = real_fdatasync(fd);
    note("sync", fd, result);
    return result;
}

int fsync(int fd) {
    REAL(fsync);
    int result = real_fsync(fd);
    note("sync", fd, result);
    return result;
}

int msync(void *address, size_t length, int flags) {
    REAL(msync);
    int result = real_msync(address, length, flags);
    if (flags & MS_SYNC) note("sync", -1, result);
    return result;
}

static void after_write(int fd, long result) {
    if (result <= 0) return;
    if (is_socket(fd)) note("send", fd, result);
    else if (is_synchronous_file(fd)) note("dsync-write", fd, result);
}

ssize_t write(int fd, const void *buffer, size_t count) {
    REAL(write);
    ssize_t result = real_write(fd, buffer, count);
    after_write(fd, result);
    return result;
}

ssize_t writev(int fd, const struct iovec *vector, int count) {
    REAL(writev);
    ssize_t result = real_writev(fd, vector, count);
    after_write(fd, result);
    return result;
}

ssize_t sendmsg(int fd, const struct msghdr *message, int flags) {
    REAL(sendmsg);
    ssize_t result = real_sendmsg(fd, message, flags);
    after_write(fd, result);
    return result;
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    REAL(pwrite);
    ssize_t result = real_pwrite(fd, buffer, count, offset);
    after_write(fd, result);
    return result;
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    REAL(pwrite64);
    ssize_t result = real_pwrite64(fd, buffer, count, offset);
    after_write(fd, result);
    return result;
}
