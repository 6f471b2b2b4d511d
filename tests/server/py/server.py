"""Start edgelite-server for the Python suites, as tests/server/lib.js does for the node ones.

The binary is EDGELITE_SERVER; the public key file and the signed tokens come from run.js
(EDGELITE_JWT_KEY_FILE, EDGELITE_TOKEN_RW, _RO, _EXPIRED, _FORGED): Python's standard library
cannot sign Ed25519, and the suites should need nothing beyond the two clients under test.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

READY = re.compile(r"edgelite-server listening on (http://\S+)")


def _env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the suites through tests/server/run.js")
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="edgelite-py-")
        admin_port = free_port()
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self.tokens = {k: _env(f"EDGELITE_TOKEN_{k.upper()}") for k in ("rw", "ro", "expired", "forged")}
        args = [
            _env("EDGELITE_SERVER"),
            "--db-path", os.path.join(self.dir, "data"),
            "--http-listen-addr", "127.0.0.1:0",
            "--admin-listen-addr", f"127.0.0.1:{admin_port}",
            "--auth-jwt-key-file", _env("EDGELITE_JWT_KEY_FILE"),
        ]
        self.log_path = os.path.join(self.dir, "server.log")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.url = self._wait_ready(args)
        self.ws_url = "ws" + self.url[len("http"):]
        # Keep reading stdout so that the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self._wait_tcp(admin_port)

    def _wait_ready(self, args, timeout=60):
        found = {}

        def reader():
            for line in self.proc.stdout:
                m = READY.search(line)
                if m:
                    found["url"] = m.group(1).rstrip("/")
                    return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        if "url" not in found:
            self.stop()
            with open(self.log_path, "rb") as f:
                tail = f.read()[-4000:].decode(errors="replace")
            raise RuntimeError(f"edgelite-server not ready: {' '.join(args)}\nstderr tail:\n{tail}")
        return found["url"]

    @staticmethod
    def _wait_tcp(port, timeout=10):
        deadline = time.time() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    def info(self):
        req = urllib.request.Request(f"{self.url}/info", headers={"authorization": f"Bearer {self.tokens['rw']}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def checkpoint(self, ns="default"):
        req = urllib.request.Request(f"{self.admin_url}/v1/namespaces/{ns}/checkpoint", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
        return self.info()["current_generation"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
