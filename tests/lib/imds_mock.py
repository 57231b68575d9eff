#!/usr/bin/env python3
"""imds_mock.py - a tiny local stand-in for the Azure instance metadata
service: the VM name and Scheduled Events (GET, and POST approvals). Not a
full IMDS: no other paths, no throttling, no DocumentIncarnation logic.

Usage: imds_mock.py --port-file F --vm-name NAME [--events FILE]
                    [--approvals FILE] [--timeout SECONDS]
The events document is re-read at every request, so a test changes it by
renaming a new file over the old one.
"""
import argparse
import http.server
import os
import sys
import threading
import time
from urllib.parse import urlsplit, parse_qs

EMPTY = b'{"DocumentIncarnation":0,"Events":[]}'
MAX_BODY = 64 * 1024


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
        else:
            self.reply(404, b"Not found")

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


def main():
    ap = argparse.ArgumentParser(description="mock Azure instance metadata service")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--vm-name", required=True)
    ap.add_argument("--events")
    ap.add_argument("--approvals")
    ap.add_argument("--timeout", type=float, default=120.0)
    opts = ap.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.opts = opts
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, opts.port_file)  # readers never see a half-written port

    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(opts.timeout)  # then exit, so a forgotten mock cannot linger
    return 0


if __name__ == "__main__":
    sys.exit(main())
