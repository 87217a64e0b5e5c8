#!/usr/bin/env python3
"""Resident memory per idle WebSocket connection, plain (ws://) and TLS (wss://).

Starts the release binary (build it first: `cargo build --release`) on loopback with a
throw-away certificate made by `openssl` (Debian package `openssl`), opens N idle WebSocket
connections, and reports the growth of the server's VmRSS (/proc/<pid>/status) per connection.

    python3 benches/tls_rss.py [N]        # default N = 2000
"""

import os
import re
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "signal-fish-server")
PORT = 39537

UPGRADE = (
    "GET /v2/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def make_cert(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
    except FileNotFoundError:
        sys.exit("openssl not found: install the Debian package `openssl`")
    return cert, key


def start(tls, cert, key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAL_FISH")}
    env.update({
        "SIGNAL_FISH_PORT": str(PORT),
        "SIGNAL_FISH_SERVER__SHARDS": "2",
        "SIGNAL_FISH_SERVER__PING_TIMEOUT": "600",
        "SIGNAL_FISH_SECURITY__MAX_CONNECTIONS_PER_IP": "1000000",
        "SIGNAL_FISH_SECURITY__TRANSPORT__TLS__ENABLED": "true" if tls else "false",
        "SIGNAL_FISH_SECURITY__TRANSPORT__TLS__CERTIFICATE_PATH": cert,
        "SIGNAL_FISH_SECURITY__TRANSPORT__TLS__PRIVATE_KEY_PATH": key,
    })
    proc = subprocess.Popen([BINARY], env=env, cwd=tempfile.gettempdir(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()  # printed once every shard listens
    if "listening" not in line:
        proc.kill()
        sys.exit(f"server did not start: {line}")
    return proc


def connect(tls, context):
    sock = socket.create_connection(("127.0.0.1", PORT))
    if tls:
        sock = context.wrap_socket(sock, server_hostname="localhost")
    sock.sendall(UPGRADE)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed during upgrade")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    return sock


def measure(tls, cert, key):
    proc = start(tls, cert, key)
    try:
        context = ssl.create_default_context(cafile=cert) if tls else None
        # Warm up the allocator and the shards with one connection, then settle.
        warm = connect(tls, context)
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        socks = [connect(tls, context) for _ in range(N)]
        time.sleep(1.0)
        after = rss_kib(proc.pid)
        for s in socks + [warm]:
            s.close()
        return before, after
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, N + 100)), hard))
    with tempfile.TemporaryDirectory() as directory:
        cert, key = make_cert(directory)
        for tls in (False, True):
            before, after = measure(tls, cert, key)
            per = (after - before) * 1024 / N
            name = "wss (TLS)" if tls else "ws (plain)"
            print(f"{name:11} {N} idle connections: VmRSS {before} kB -> {after} kB, "
                  f"{per:.0f} bytes per connection")


if __name__ == "__main__":
    main()
