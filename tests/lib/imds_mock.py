#!/usr/bin/env python3
"""imds_mock.py - a tiny local stand-in for the Azure instance metadata
service: the VM name, Scheduled Events (GET, and POST approvals) and the
managed-identity token endpoint. Not a full IMDS: no other paths, no
DocumentIncarnation logic, no real tokens.

Usage: imds_mock.py --port-file F --vm-name NAME [--events FILE]
                    [--approvals FILE] [--timeout SECONDS]
                    [--token TOKEN] [--token-fail N] [--token-expires-in S]
                    [--token-numeric] [--client-id ID]
                    [--token-count FILE] [--token-log FILE]
The events document is re-read at every request, so a test changes it by
renaming a new file over the old one.

Token endpoint (GET /metadata/identity/oauth2/token): without --token it
answers 400 "Identity not found", as on a VM without a managed identity.
The first N requests (--token-fail) fail with 500, 429 and 410 in turn.
--client-id makes requests without that client_id fail with 400.
--token-count holds the number of token requests so far (rewritten after
each); --token-log gets one line per request with its query string.
"""
import argparse
import http.server
import os
import sys
import threading
import json
import time
from urllib.parse import urlsplit, parse_qs

EMPTY = b'{"DocumentIncarnation":0,"Events":[]}'
MAX_BODY = 64 * 1024
TOKEN_PATH = "/metadata/identity/oauth2/token"
STORAGE = "https://storage.azure.com/"
FAIL_CYCLE = (500, 429, 410)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    def reply(self, status, body=b"", ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def checked_path(self):
        """The path, or None after answering 400 as Azure does when the
        Metadata header or the api-version parameter is missing."""
        url = urlsplit(self.path)
        if self.headers.get("Metadata", "").lower() != "true":
            self.reply(400, b"Required metadata header not specified")
            return None
        if "api-version" not in parse_qs(url.query):
            self.reply(400, b"Bad request: api-version missing")
            return None
        return url.path

    def do_GET(self):
        path = self.checked_path()
        if path is None:
            return
        if path == "/metadata/instance/compute/name":
            self.reply(200, self.server.opts.vm_name.encode())
        elif path == "/metadata/scheduledevents":
            self.reply(200, read_events(self.server.opts.events), "application/json")
        elif path == TOKEN_PATH:
            self.token()
        else:
            self.reply(404, b"Not found")

    def token(self):
        opts = self.server.opts
        query = urlsplit(self.path).query
        n = count_token_request(self.server, query)
        args = parse_qs(query)
        if n <= opts.token_fail:
            status = FAIL_CYCLE[(n - 1) % len(FAIL_CYCLE)]
            self.reply(status, json_bytes({"error": "temporarily_unavailable",
                                           "error_description": "mock failure %d" % n}),
                       "application/json")
        elif args.get("resource") != [STORAGE]:
            self.reply(400, json_bytes({"error": "invalid_resource",
                                        "error_description": "bad resource"}), "application/json")
        elif not opts.token or (opts.client_id and args.get("client_id") != [opts.client_id]):
            self.reply(400, json_bytes({"error": "invalid_request",
                                        "error_description": "Identity not found"}),
                       "application/json")
        else:
            self.reply(200, token_body(opts), "application/json")

    def do_POST(self):
        path = self.checked_path()
        if path is None:
            return
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY:
            self.reply(400, b"bad Content-Length")
            return
        body = self.rfile.read(n)
        if path != "/metadata/scheduledevents":
            self.reply(404, b"Not found")
            return
        if self.server.opts.approvals:
            line = body.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n"
            with open(self.server.opts.approvals, "ab") as f:
                f.write(line)
        self.reply(200)


def read_events(path):
    if not path:
        return EMPTY
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return EMPTY


def json_bytes(obj):
    return json.dumps(obj).encode()


def token_body(opts):
    exp_in = opts.token_expires_in
    exp_on = int(time.time()) + exp_in
    if not opts.token_numeric:
        exp_in, exp_on = str(exp_in), str(exp_on)
    return json_bytes({"access_token": opts.token, "client_id": opts.client_id or "mock",
                       "expires_in": exp_in, "expires_on": exp_on,
                       "ext_expires_in": exp_in, "not_before": str(int(time.time())),
                       "resource": STORAGE, "token_type": "Bearer"})


def count_token_request(server, query):
    """Counts a token request (1 for the first) and records it."""
    with server.token_lock:
        server.token_requests += 1
        n = server.token_requests
        opts = server.opts
        if opts.token_log:
            with open(opts.token_log, "a") as f:
                f.write(query + "\n")
        if opts.token_count:
            tmp = opts.token_count + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % n)
            os.rename(tmp, opts.token_count)
    return n


def main():
    ap = argparse.ArgumentParser(description="mock Azure instance metadata service")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--vm-name", required=True)
    ap.add_argument("--events")
    ap.add_argument("--approvals")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--token")
    ap.add_argument("--token-fail", type=int, default=0)
    ap.add_argument("--token-expires-in", type=int, default=3600)
    ap.add_argument("--token-numeric", action="store_true")
    ap.add_argument("--client-id")
    ap.add_argument("--token-count")
    ap.add_argument("--token-log")
    opts = ap.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.opts = opts
    server.token_lock = threading.Lock()
    server.token_requests = 0
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, opts.port_file)  # readers never see a half-written port

    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(opts.timeout)  # then exit, so a forgotten mock cannot linger
    return 0


if __name__ == "__main__":
    sys.exit(main())
