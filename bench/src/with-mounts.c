/* Run a command in a private mount namespace holding EXTRA more mounts (tmpfs, under DIR/hm),
 * made shared as a systemd host's are: a throwaway cluster started by the command sees a host
 * with that many mounts, and nothing it mounts reaches the real host.
 *
 *   with-mounts DIR EXTRA CMD [ARG...] */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
    if (argc < 4)
        die("usage: with-mounts DIR EXTRA CMD [ARG...]");
    bench_private_ns();
    world_enter(world_create(argv[1], (unsigned)atoi(argv[2])));
    execvp(argv[3], argv + 3);
    die("%s: %m", argv[3]);
}
