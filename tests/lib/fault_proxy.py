#!/usr/bin/env python3
"""fault_proxy.py - a loopback HTTP reverse proxy that injects faults between mpibatch and Azurite; not a general proxy.

Every request to 127.0.0.1:PORT is matched against the rules in order; the
first rule that matches and still has uses left is applied, otherwise the
request is forwarded unchanged to --target. Each request is logged, one
tab-separated line: epoch ms, method, target (sig= values redacted), the
x-ms-client-request-id header, what was done ("forward 201", "status 503",
"drop", ...) and, with --log-bodies, the start of the request body. Tests
read the log to check retries and what went over the wire.

Rule syntax (--rule, repeatable; or one per line in --rules FILE, which is
re-read when it changes, with fresh counts):

    METHOD SUBSTRING COUNT ACTION [ARGS...]

    METHOD     GET, PUT, POST, DELETE, ... or * for any
    SUBSTRING  must occur in the request target (path and query), or *
    COUNT      N (the next N matching requests), * (all of them),
               every:K (every K-th matching request)
    ACTION     status CODE [Name:Value ...] [code=AzureCode]
                          answer CODE with an Azure-style XML error body
               drop       close the connection without an answer
               reset      close it with a TCP reset
               delay MS   wait MS milliseconds, then forward
               hang       never answer (until --hang-max seconds)
               lose       forward, then close without passing the answer on
                          (the server acted; the client cannot know)

Example: --rule 'GET /jobs?comp=metadata 3 status 503'
         --rule '* * 1 status 429 Retry-After:1'

The proxy exits by itself after --timeout seconds so a failed test cannot
leave it running.
"""
import argparse
import http.client
import http.server
import os
import re
import socket
import struct
import sys
import threading
import time

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
AZURE_CODES = {400: "InvalidInput", 403: "AuthenticationFailed", 404: "QueueNotFound",
               408: "OperationTimedOut", 409: "QueueAlreadyExists", 429: "TooManyRequests",
               500: "InternalError", 502: "BadGateway", 503: "ServerBusy", 504: "GatewayTimeout"}


class Rule:
    def __init__(self, text):
        words = text.split()
        if len(words) < 4:
            raise ValueError("rule needs METHOD SUBSTRING COUNT ACTION: %r" % text)
        self.text = text
        self.method, self.substring, count, self.action = words[:4]
        self.args = words[4:]
        self.every = 0
        self.left = None                      # None: unlimited
        if count.startswith("every:"):
            self.every = int(count[6:])
        elif count != "*":
            self.left = int(count)
        if self.action not in ("status", "drop", "reset", "delay", "hang", "lose"):
            raise ValueError("unknown action %r" % self.action)
        if self.action in ("status", "delay") and not self.args:
            raise ValueError("%s needs an argument" % self.action)
        self.seen = 0

    def take(self, method, target):
        """Does this rule apply to the request? Uses one of its counts."""
        if self.method not in ("*", method):
            return False
        if self.substring != "*" and self.substring not in target:
            return False
        self.seen += 1
        if self.every:
            return self.seen % self.every == 0
        if self.left is None:
            return True
        if self.left > 0:
            self.left -= 1
            return True
        return False


class Rules:
    def __init__(self, texts, path):
        self.lock = threading.Lock()
        self.fixed = [Rule(t) for t in texts]
        self.path = path
        self.mtime = None
        self.from_file = []

    def _reload(self):
        if not self.path:
            return
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            self.from_file, self.mtime = [], None
            return
        if mtime == self.mtime:
            return
        with open(self.path) as f:
            lines = [l.strip() for l in f]
        self.from_file = [Rule(l) for l in lines if l and not l.startswith("#")]
        self.mtime = mtime

    def match(self, method, target):
        with self.lock:
            self._reload()
            for rule in self.fixed + self.from_file:
                if rule.take(method, target):
                    return rule
        return None


class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True


def redact(target):
    return re.sub(r"(sig=)[^&]*", r"\1REDACTED", target)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self, what):
        line = "%d\t%s\t%s\t%s\t%s" % (time.time() * 1000, self.command, redact(self.path),
                                       self.headers.get("x-ms-client-request-id", "-"), what)
        if self.server.log_bodies and self.body:
            line += "\t" + self.body[:200].decode("utf-8", "replace")
        line += "\n"
        with self.server.log_lock:
            self.server.log.write(line)
            self.server.log.flush()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer_status(self, rule):
        code = int(rule.args[0])
        azure_code = AZURE_CODES.get(code, "InjectedFault")
        headers = []
        for a in rule.args[1:]:
            if a.startswith("code="):
                azure_code = a[5:]
            elif ":" in a:
                headers.append(a.split(":", 1))
        body = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code>'
                "<Message>Injected by fault_proxy.</Message></Error>" % azure_code).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-ms-error-code", azure_code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def forward(self, body, answer=True):
        conn = http.client.HTTPConnection(self.server.target, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        conn.request(self.command, self.path, body=body if body or self.command in
                     ("POST", "PUT") else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if not answer:
            return resp.status
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return resp.status

    def handle_any(self):
        body = self.body = self.read_body()
        rule = self.server.rules.match(self.command, self.path)
        action = rule.action if rule else "forward"
        if action == "status":
            self.record("status " + rule.args[0])
            return self.answer_status(rule)
        if action in ("drop", "reset"):
            self.record(action)
            if action == "reset":
                self.reset()
            self.close_connection = True
            return
        if action == "hang":
            self.record("hang")
            time.sleep(self.server.hang_max)
            self.close_connection = True
            return
        if action == "delay":
            time.sleep(int(rule.args[0]) / 1000.0)
        if action == "lose":
            try:
                status = self.forward(body, answer=False)
                self.record("lose (server said %d)" % status)
            except OSError as e:
                self.record("forward failed: %s" % e)
            self.close_connection = True
            return
        try:
            status = self.forward(body)
            self.record(("delay %s, " % rule.args[0] if rule else "") + "forward %d" % status)
        except OSError as e:
            self.record("forward failed: %s" % e)
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of Azurite")
    ap.add_argument("--port", type=int, default=0, help="listen port (0: any free one)")
    ap.add_argument("--port-file", help="write the listening port here")
    ap.add_argument("--log", required=True, help="append one line per request here")
    ap.add_argument("--rule", action="append", default=[], help="a fault rule (see above)")
    ap.add_argument("--rules", help="a file of rules, re-read when it changes")
    ap.add_argument("--log-bodies", action="store_true",
                    help="add the first 200 bytes of request bodies to the log")
    ap.add_argument("--timeout", type=float, default=300, help="exit after this many seconds")
    ap.add_argument("--hang-max", type=float, default=60, help="longest 'hang', seconds")
    a = ap.parse_args()

    server = Proxy(("127.0.0.1", a.port), Handler)
    server.target = a.target
    server.rules = Rules(a.rule, a.rules)
    server.hang_max = a.hang_max
    server.log_bodies = a.log_bodies
    server.log = open(a.log, "a")
    server.log_lock = threading.Lock()
    threading.Timer(a.timeout, lambda: os._exit(0)).start()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(tmp, a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        print("fault_proxy: %s" % e, file=sys.stderr)
        sys.exit(2)
