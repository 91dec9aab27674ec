/* syslog-sink SOCKET FILE: a stand-in for syslogd in the tests, on a machine (or a Debian root)
 * that has none: binds the datagram socket SOCKET (such as /dev/log) and appends each message it
 * receives, one a line, to FILE, until SIGTERM; then removes SOCKET. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct sigaction sa = {.sa_handler = on_term};
    char msg[8192];
    FILE *out;
    int fd;

    if (argc != 3 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "usage: syslog-sink SOCKET FILE\n");
        return 2;
    }
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", argv[1]);
    sigaction(SIGTERM, &sa, NULL);
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(argv[1], 0666) < 0 ||
        !(out = fopen(argv[2], "a"))) {
        fprintf(stderr, "syslog-sink: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    while (!stop) {
        ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
        if (n < 0)
            continue;
        msg[n] = '\0';
        fprintf(out, "%s\n", msg);
        fflush(out);
    }
    unlink(argv[1]);
    return 0;
}
