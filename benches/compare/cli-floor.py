#!/usr/bin/env python3
"""The docker CLI's own share of a classic build: a stand-in engine on a unix socket that
answers /_ping, reads the whole context of POST /build and at once reports an image id.
`docker build` against it costs what any engine's build costs at least (CLI start, context
tar, upload), so benchmarks can say how close an engine is to that floor.
Usage: cli-floor.py SOCKET_PATH (serves until killed)."""
import http.server
import json
import os
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Api-Version", "1.41")
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                self.rfile.read(size + 2)
                if size == 0:
                    return
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left > 0:
                left -= len(self.rfile.read(min(left, 1 << 20)))

    def do_HEAD(self):
        self.reply(200, b"", "text/plain")

    def do_GET(self):
        if self.path.endswith("/_ping"):
            self.reply(200, b"OK", "text/plain")
        else:
            self.reply(200, json.dumps({"ApiVersion": "1.41", "Version": "floor"}).encode())

    def do_POST(self):
        self.read_body()
        line = json.dumps({"stream": "sha256:" + "0" * 64 + "\n"}).encode() + b"\n"
        self.reply(200, line)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("floor", 0)


path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
Server(path, Handler).serve_forever()
