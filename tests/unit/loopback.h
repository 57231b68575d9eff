/* loopback.h - for the unit tests that need a server that is not there: a
 * loopback TCP port nobody listens on. */
#ifndef MB_TEST_LOOPBACK_H
#define MB_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bound, noted, closed: connecting to it is refused (until the kernel
 * hands it out again, which it does not do at once). Bails out of the
 * test when no port can be had. */
static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    if (port < 0) {
        printf("Bail out! cannot find a free loopback port\n");
        exit(1);
    }
    return port;
}

#endif
