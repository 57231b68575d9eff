/* test_preempt.c - TAP tests of the stop flag, the HTTP error texts and the
 * Scheduled Events watcher. Without arguments nothing outside this process
 * is needed; `test_preempt MODE` with MB_IMDS_MOCK=http://127.0.0.1:PORT
 * checks the watcher against tests/lib/imds_mock.py (driven by
 * tests/mpi/75-imds.t, which writes the events document for MODE). */
#include "azure/http.h"
#include "base/log.h"
#include "azure/preempt.h"
#include "loopback.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define URL_BUF 256
#define BIG_TIME 1e8   /* "no deadline" is reported as about 1e9 s */

/* ---- helpers ------------------------------------------------------------- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Waits up to `secs` for a stop request; returns the flag. */
static int wait_for_stop(double secs)
{
    double until = mono_now() + secs;

    while (mb_preempt_requested() == 0 && mono_now() < until)
        sleep_ms(20);
    return mb_preempt_requested();
}

static int handler_is(int sig, void (*h)(int))
{
    struct sigaction sa;
    return sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == h;
}

static mb_status init_plain(void)
{
    mb_preempt_opts o = {0, NULL, 0};
    return mb_preempt_init(&o, NULL);
}

/* ---- signals --------------------------------------------------------------- */

static void test_first_signal_wins(void)
{
    char why[128];

    ok(init_plain() == MB_OK, "init without watcher");
    ok(mb_preempt_requested() == 0, "no stop requested after init");
    raise(SIGUSR1);
    ok(mb_preempt_requested() == SIGUSR1, "SIGUSR1 sets the flag");
    raise(SIGTERM);   /* would kill us if the handler were missing */
    ok(mb_preempt_requested() == SIGUSR1, "a later SIGTERM does not replace the first signal");
    is_str(mb_preempt_reason(why, sizeof why), "SIGUSR1", "reason names the first signal");
    ok(mb_preempt_time_left() > BIG_TIME, "time left is large after a signal");
    mb_preempt_approve();   /* nothing to approve: must not post or crash */
    ok(mb_preempt_init(NULL, NULL) != MB_OK, "a second init is refused");
    mb_preempt_fini();
}

static void test_errno_kept(void)
{
    ok(init_plain() == MB_OK, "init resets the flag");
    ok(mb_preempt_requested() == 0, "flag clear after re-init");
    errno = ERANGE;
    raise(SIGUSR2);
    ok(errno == ERANGE, "errno is unchanged across the handler");
    ok(mb_preempt_requested() == SIGUSR2, "SIGUSR2 sets the flag");
    mb_preempt_fini();
}

static void test_request(void)
{
    char why[128];

    ok(init_plain() == MB_OK, "init");
    mb_preempt_request(MB_PREEMPT_EVENT);
    ok(mb_preempt_requested() == MB_PREEMPT_EVENT, "mb_preempt_request sets the flag");
    raise(SIGINT);
    ok(mb_preempt_requested() == MB_PREEMPT_EVENT, "a signal after a request does not replace it");
    is_str(mb_preempt_reason(why, sizeof why), "Azure Scheduled Event",
           "reason of an event request without a recorded event");
    ok(mb_preempt_time_left() > BIG_TIME, "time left is large without a NotBefore");
    mb_preempt_fini();
}

static void test_actions_restored(void)
{
    signal(SIGUSR2, SIG_IGN);
    ok(init_plain() == MB_OK, "init over an ignored SIGUSR2");
    ok(!handler_is(SIGTERM, SIG_DFL) && !handler_is(SIGUSR2, SIG_IGN),
       "handlers installed while active");
    mb_preempt_fini();
    ok(handler_is(SIGTERM, SIG_DFL), "fini restores SIGTERM's default action");
    ok(handler_is(SIGUSR2, SIG_IGN), "fini restores the previous SIGUSR2 action");
    signal(SIGUSR2, SIG_DFL);
    mb_preempt_fini();   /* twice is harmless */
}

/* ---- the watcher off Azure ------------------------------------------------- */

static void test_no_metadata_service(void)
{
    char url[URL_BUF];
    mb_preempt_opts o = {1, NULL, 0.1};
    double t0, dt;
    mb_status st;

    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    setenv("MPIBATCH_IMDS_ENDPOINT", url, 1);
    t0 = mono_now();
    st = mb_preempt_init(&o, NULL);
    ok(st == MB_OK, "init with the watcher and no metadata service");
    sleep_ms(300);
    mb_preempt_fini();
    dt = mono_now() - t0;
    ok(dt < 2.0, "init + fini with no metadata service take %.2f s (< 2 s)", dt);
    ok(mb_preempt_requested() == 0, "no stop without a metadata service");
    ok(mb_preempt_time_left() > BIG_TIME, "time left is large with no event");
    unsetenv("MPIBATCH_IMDS_ENDPOINT");
}

static void test_bad_endpoint(void)
{
    mb_preempt_opts o = {1, "http://127.0.0.1:1/x?sig=1", 0};
    mb_err err;

    unsetenv("MPIBATCH_IMDS_ENDPOINT");
    ok(mb_preempt_init(&o, &err) == MB_EUSAGE, "an endpoint with a query string is refused");
    ok(handler_is(SIGTERM, SIG_DFL), "a failed init leaves no handler behind");
    ok(init_plain() == MB_OK, "init works after a failed init");
    mb_preempt_fini();
}

/* ---- HTTP error texts --------------------------------------------------- */

static mb_status get(const char *url, const char *const *headers, size_t max,
                     mb_http_resp *resp, mb_err *err)
{
    mb_http_req req;

    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.connect_timeout_ms = 1000;
    req.timeout_ms = 2000;
    req.max_response = max;
    return mb_http_do(&req, resp, err);
}

static void test_http_errors(void)
{
    char url[URL_BUF], want[URL_BUF];
    int port = closed_port();
    mb_http_resp resp;
    mb_err err;

    snprintf(url, sizeof url, "http://user:hunter2@127.0.0.1:%d/q/m?sv=1&sig=SECRET#frag", port);
    snprintf(want, sizeof want, "GET http://127.0.0.1:%d/q/m: ", port);
    ok(get(url, NULL, 0, &resp, &err) == MB_EQUEUE, "closed port: MB_EQUEUE");
    ok(strncmp(err.msg, want, strlen(want)) == 0 && strlen(err.msg) > strlen(want),
       "error names method and URL, then curl's reason: %s", err.msg);
    ok(!strstr(err.msg, "SECRET") && !strstr(err.msg, "sv=") && !strstr(err.msg, "hunter2"),
       "error shows neither query string nor password");
    ok(resp.body == NULL && resp.status == 0, "no response on failure");
    mb_http_resp_fini(&resp);
    ok(get("ftp://127.0.0.1/x", NULL, 0, &resp, &err) == MB_EUSAGE,
       "a non-HTTP URL is a usage error");
    mb_http_resp_fini(NULL);
}

/* ---- against the mock ------------------------------------------------------ */

static int file_has(const char *path, const char *needle, size_t *lines)
{
    char line[1024];
    int found = 0;
    FILE *f = fopen(path, "r");

    *lines = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        (*lines)++;
        if (strstr(line, needle))
            found = 1;
    }
    fclose(f);
    return found;
}

static void test_mock_http(const char *mock)
{
    static const char *const md[] = {"Metadata: true", NULL};
    char url[URL_BUF];
    mb_http_resp resp;
    mb_err err;

    snprintf(url, sizeof url, "%s/metadata/instance/compute/name?api-version=2021-02-01", mock);
    ok(get(url, NULL, 0, &resp, &err) == MB_OK && resp.status == 400,
       "mock: no Metadata header gives HTTP 400");
    mb_http_resp_fini(&resp);
    ok(get(url, md, 0, &resp, &err) == MB_OK && resp.status == 200 && resp.body_len > 0 &&
           resp.body[resp.body_len] == '\0',
       "mock: the VM name with the header");
    mb_http_resp_fini(&resp);
    ok(get(url, md, 2, &resp, &err) == MB_ELIMIT && resp.body == NULL,
       "a response over max_response is MB_ELIMIT");
}

/* The deadline the script wrote, as epoch seconds, or -1 for none. */
static double expected_not_before(void)
{
    const char *s = getenv("MB_IMDS_NOT_BEFORE_EPOCH");
    char *end;
    double v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    return errno == 0 && *end == '\0' && v > 0 ? v : -1;
}

static void check_stop(const char *id)
{
    char why[256];
    double nb = expected_not_before();
    double left = mb_preempt_time_left();
    struct timespec ts;

    ok(mb_preempt_requested() == MB_PREEMPT_EVENT, "the event for this VM sets the flag");
    mb_preempt_reason(why, sizeof why);
    ok(strstr(why, id) != NULL && strstr(why, "Azure Scheduled Event") == why,
       "reason names the event: %s", why);
    clock_gettime(CLOCK_REALTIME, &ts);
    if (nb > 0)
        ok(fabs(left - (nb - (double)ts.tv_sec)) < 2.0, "time left %.1f s matches NotBefore", left);
    else
        ok(left > BIG_TIME, "time left is large without a NotBefore");
    raise(SIGTERM);
    ok(mb_preempt_requested() == MB_PREEMPT_EVENT, "a later SIGTERM does not replace the event");
}

static void check_approval(const char *id, int expect)
{
    const char *path = getenv("MB_IMDS_APPROVALS");
    char want[256];
    size_t lines;

    snprintf(want, sizeof want, "{\"StartRequests\":[{\"EventId\":\"%s\"}]}", id);
    mb_preempt_approve();
    mb_preempt_approve();   /* a second call must not post again */
    if (!path) {
        ok(0, "MB_IMDS_APPROVALS is set");
        return;
    }
    if (expect) {
        ok(file_has(path, want, &lines) && lines == 1, "approval posted once: %s", want);
    } else {
        file_has(path, "", &lines);
        ok(lines == 0, "nothing approved");
    }
}

static int run_mock(const char *mode, const char *mock)
{
    const char *id = getenv("MB_IMDS_EVENT_ID");
    int expect = strstr(mode, "-self") != NULL;
    mb_preempt_opts o = {1, NULL, 0};
    double t0, dt;

    if (!id) {
        printf("Bail out! MB_IMDS_EVENT_ID not set\n");
        return 1;
    }
    mb_log_init(-1, MB_LOG_DEBUG);
    setenv("MPIBATCH_IMDS_ENDPOINT", mock, 1);
    test_mock_http(mock);
    ok(mb_preempt_init(&o, NULL) == MB_OK, "%s: init with the watcher", mode);
    t0 = mono_now();
    if (expect) {
        wait_for_stop(3.0);
        dt = mono_now() - t0;
        ok(dt < 3.0, "%s: event noticed after %.2f s", mode, dt);
        check_stop(id);
    } else {
        ok(wait_for_stop(3.0) == 0, "%s: no stop within 3 s", mode);
        ok(mb_preempt_time_left() > BIG_TIME, "%s: time left stays large", mode);
    }
    check_approval(id, expect);
    t0 = mono_now();
    mb_preempt_fini();
    dt = mono_now() - t0;
    ok(dt < 1.5, "%s: fini stops a polling watcher in %.2f s", mode, dt);
    return tap_done();
}

int main(int argc, char **argv)
{
    const char *mock = getenv("MB_IMDS_MOCK");

    if (mb_http_global_init() != MB_OK) {
        printf("Bail out! libcurl initialisation failed\n");
        return 1;
    }
    if (argc > 1) {
        if (!mock || !*mock) {
            printf("Bail out! mode %s needs MB_IMDS_MOCK\n", argv[1]);
            return 1;
        }
        return run_mock(argv[1], mock);
    }
    test_first_signal_wins();
    test_errno_kept();
    test_request();
    test_actions_restored();
    test_no_metadata_service();
    test_bad_endpoint();
    test_http_errors();
    return tap_done();
}
