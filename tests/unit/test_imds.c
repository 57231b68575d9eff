/* test_imds.c - azure/imds against a canned HTTP server in a thread of
 * this process: the endpoint and its override, the Metadata header, GET
 * and POST, retries through 500/429/410/404/503 to a 200, retries running
 * out, a 400 not retried, silence (a closed port) given up on after three
 * tries, the deadline cutting retries short, and a URL too long. The 70 s
 * window for 410 is not waited out here. */
#include "azure/imds.h"

#include "base/log.h"
#include "loopback.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCRIPT_MAX 16
#define REQ_MAX 8192

/* The canned server: answers request i with script[i] (the last one
 * repeats) and remembers what it was sent. */
typedef struct server {
    int fd, port;
    pthread_t thread;
    long script[SCRIPT_MAX];
    int script_len;
    int requests;                 /* answered so far */
    int all_had_metadata;         /* every request carried "Metadata: true" */
    char last[REQ_MAX];           /* the last request, headers and body */
} server;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads one request: headers, then Content-Length bytes of body. Header
 * names are matched as libcurl writes them (it keeps the given case). */
static size_t read_request(int c, char *buf, size_t cap)
{
    size_t len = 0, want = 0;
    char *end, *cl;
    ssize_t r;

    while (len + 1 < cap && (r = read(c, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)r;
        buf[len] = '\0';
        if (!(end = strstr(buf, "\r\n\r\n")))
            continue;
        if (!want) {
            cl = strstr(buf, "\r\nContent-Length:");
            want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (len >= want)
            break;
    }
    buf[len] = '\0';
    return len;
}

static void *serve(void *arg)
{
    server *s = arg;
    char reply[256];
    int c, n;

    while ((c = accept(s->fd, NULL, NULL)) >= 0) {
        long status;
        read_request(c, s->last, sizeof s->last);
        if (!strstr(s->last, "\r\nMetadata: true\r\n"))
            s->all_had_metadata = 0;
        status = s->script[s->requests < s->script_len ? s->requests : s->script_len - 1];
        s->requests++;
        n = snprintf(reply, sizeof reply,
                     "HTTP/1.1 %ld X\r\nContent-Length: 8\r\nConnection: close\r\n\r\nbody %03ld",
                     status, status % 1000);
        if (write(c, reply, (size_t)n) != n)
            perror("test server write");
        close(c);
    }
    return NULL;
}

static void server_start(server *s, const long *script, int n)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;

    memset(s, 0, sizeof *s);
    memcpy(s->script, script, (size_t)n * sizeof *script);
    s->script_len = n;
    s->all_had_metadata = 1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 8) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &len) != 0 ||
        pthread_create(&s->thread, NULL, serve, s) != 0) {
        printf("Bail out! cannot start the test server\n");
        exit(1);
    }
    s->port = ntohs(a.sin_port);
}

/* shutdown() makes the blocked accept() return, ending the thread. */
static void server_stop(server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* ---- the endpoint ---------------------------------------------------------- */

static void endpoint_is(const char *env, const char *given, const char *want, const char *what)
{
    char out[MB_IMDS_ENDPOINT_MAX];
    mb_err e;

    if (env)
        setenv("MPIBATCH_IMDS_ENDPOINT", env, 1);
    else
        unsetenv("MPIBATCH_IMDS_ENDPOINT");
    if (!ok(mb_imds_endpoint(given, out, &e) == MB_OK && strcmp(out, want) == 0, "endpoint: %s",
            what))
        printf("#   got '%s'\n", out);
}

static void endpoint_bad(const char *env, const char *given, const char *named, const char *what)
{
    char out[MB_IMDS_ENDPOINT_MAX] = "x";
    mb_err e;

    if (env)
        setenv("MPIBATCH_IMDS_ENDPOINT", env, 1);
    else
        unsetenv("MPIBATCH_IMDS_ENDPOINT");
    if (!ok(mb_imds_endpoint(given, out, &e) == MB_EUSAGE && out[0] == '\0' &&
                strstr(e.msg, named),
            "endpoint refuses %s", what))
        printf("#   %s\n", e.msg);
}

static void test_endpoint(void)
{
    char big[MB_IMDS_ENDPOINT_MAX + 16];

    endpoint_is(NULL, NULL, MB_IMDS_DEFAULT, "the default");
    endpoint_is("", "", MB_IMDS_DEFAULT, "empty values count as unset");
    endpoint_is(NULL, "http://10.0.0.1:8080/", "http://10.0.0.1:8080", "the caller's, slash dropped");
    endpoint_is("https://127.0.0.1:9//", "http://10.0.0.1", "https://127.0.0.1:9",
                "MPIBATCH_IMDS_ENDPOINT wins over the caller's");
    endpoint_bad("ftp://127.0.0.1", NULL, "MPIBATCH_IMDS_ENDPOINT", "another scheme");
    endpoint_bad("127.0.0.1:80", NULL, "MPIBATCH_IMDS_ENDPOINT", "no scheme");
    endpoint_bad(NULL, "http://127.0.0.1:1/x?sig=1", "metadata endpoint", "a query string");
    endpoint_bad(NULL, "http://127.0.0.1/#f", "metadata endpoint", "a fragment");
    endpoint_bad("http://127.0.0.1/a b", NULL, "MPIBATCH_IMDS_ENDPOINT", "a blank");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "http://", 7);
    endpoint_bad(big, NULL, "MPIBATCH_IMDS_ENDPOINT", "one too long");
    unsetenv("MPIBATCH_IMDS_ENDPOINT");
    ok(mb_imds_retriable(0) && mb_imds_retriable(404) && mb_imds_retriable(410) &&
           mb_imds_retriable(429) && mb_imds_retriable(500) && mb_imds_retriable(503) &&
           !mb_imds_retriable(200) && !mb_imds_retriable(400) && !mb_imds_retriable(403),
       "retriable: silence, 404, 410, 429 and 5xx; not 200, 400, 403");
}

/* ---- requests ------------------------------------------------------------------ */

static mb_imds_req req_for(const char *base, double retry_s)
{
    mb_imds_req q;

    memset(&q, 0, sizeof q);
    q.base = base;
    q.path = "/metadata/thing?api-version=2021-02-01";
    q.connect_ms = 500;
    q.timeout_ms = 2000;
    q.retry_s = retry_s;
    q.what = "test";
    return q;
}

static void test_requests(void)
{
    static const long through[] = {500, 429, 410, 404, 503, 200};
    static const long always500[] = {500};
    static const long refused[] = {400};
    static const long fine[] = {200};
    char base[64];
    mb_http_resp r;
    mb_imds_req q;
    mb_status st;
    server s;
    mb_err e;
    int n;
    double t0;

    setenv("MPIBATCH_IMDS_RETRY_BASE_MS", "5", 1);

    server_start(&s, always500, 1);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    q = req_for(base, 0);
    st = mb_imds_do(&q, &r, &n, &e);
    ok(st == MB_OK && r.status == 500 && n == 1 && s.requests == 1,
       "no retries asked: one attempt, its status returned (%d)", s.requests);
    ok(s.all_had_metadata && strncmp(s.last, "GET /metadata/thing?api-version=2021-02-01 ", 43) == 0,
       "GET of base + path with Metadata: true");
    mb_http_resp_fini(&r);
    q.retry_s = 30;
    st = mb_imds_do(&q, &r, &n, &e);
    ok(st == MB_OK && r.status == 500 && n == 6 && s.requests == 7,
       "5xx until retries run out: 1 + 5 attempts, the last status returned (%d)", n);
    mb_http_resp_fini(&r);
    server_stop(&s);

    server_start(&s, through, (int)MB_ARRAY_LEN(through));
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    q = req_for(base, 30);
    st = mb_imds_do(&q, &r, &n, &e);
    ok(st == MB_OK && r.status == 200 && n == 6 && r.body && strcmp(r.body, "body 200") == 0,
       "retried through 500, 429, 410, 404 and 503 to a 200 (%d attempts)", n);
    ok(s.all_had_metadata, "every retry carried Metadata: true");
    mb_http_resp_fini(&r);
    server_stop(&s);

    server_start(&s, refused, 1);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    q = req_for(base, 30);
    st = mb_imds_do(&q, &r, &n, &e);
    ok(st == MB_OK && r.status == 400 && n == 1 && s.requests == 1, "a 400 is not retried");
    mb_http_resp_fini(&r);
    server_stop(&s);

    server_start(&s, fine, 1);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    q = req_for(base, 0);
    q.method = "POST";
    q.body = "{\"StartRequests\":[]}";
    st = mb_imds_do(&q, &r, &n, &e);
    ok(st == MB_OK && r.status == 200 && strncmp(s.last, "POST /metadata/thing?", 21) == 0 &&
           strstr(s.last, "\r\nContent-Type: application/json\r\n") &&
           strstr(s.last, "\r\n\r\n{\"StartRequests\":[]}") && s.all_had_metadata,
       "POST: the JSON body with its content type and Metadata: true");
    mb_http_resp_fini(&r);
    server_stop(&s);

    snprintf(base, sizeof base, "http://127.0.0.1:%d", closed_port());
    q = req_for(base, 30);
    t0 = now_s();
    st = mb_imds_do(&q, &r, &n, &e);
    ok(st == MB_EQUEUE && n == 3 && now_s() - t0 < 5,
       "nothing answers: MB_EQUEUE after 3 quick attempts (%d)", n);
    ok(e.msg[0] != '\0', "... with the transport's reason: %s", e.msg);
    mb_http_resp_fini(&r);
    q.retry_s = 0;
    ok(mb_imds_do(&q, &r, &n, NULL) == MB_EQUEUE && n == 1,
       "nothing answers, no retries asked: one attempt; a NULL report is fine");
    mb_http_resp_fini(&r);

    /* A 1 s base against a 0.3 s deadline: the pauses are cut short. */
    setenv("MPIBATCH_IMDS_RETRY_BASE_MS", "1000", 1);
    server_start(&s, always500, 1);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s.port);
    q = req_for(base, 0.3);
    t0 = now_s();
    st = mb_imds_do(&q, &r, &n, &e);
    ok(st == MB_OK && r.status == 500 && now_s() - t0 < 1.5 && n >= 1 && n <= 6,
       "the deadline cuts the retries short (%d attempts in %.2f s)", n, now_s() - t0);
    mb_http_resp_fini(&r);
    server_stop(&s);
    unsetenv("MPIBATCH_IMDS_RETRY_BASE_MS");
}

static void test_limits(void)
{
    char path[MB_IMDS_ENDPOINT_MAX + 1100];
    mb_http_resp r;
    mb_imds_req q = req_for("http://127.0.0.1:9", 0);
    mb_err e;
    int n = -1;

    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    q.path = path;
    ok(mb_imds_do(&q, &r, &n, &e) == MB_EUSAGE && n == 0 && strstr(e.msg, "URL longer"),
       "a URL too long is refused before sending: %s", e.msg);
    mb_http_resp_fini(&r);
    q.path = NULL;
    ok(mb_imds_do(&q, &r, &n, &e) == MB_EINTERNAL, "no path: a bug, said so");
    mb_http_resp_fini(&r);
}

int main(void)
{
    if (mb_http_global_init() != MB_OK) {
        printf("Bail out! libcurl initialisation failed\n");
        return 1;
    }
    mb_log_init(0, MB_LOG_WARN);
    test_endpoint();
    test_requests();
    test_limits();
    return tap_done();
}
