#!/usr/bin/env python3
"""A client that stops reading, and a room-mate that keeps sending to it.

    slow_client.py PORT SERVER_PID PAYLOAD_BYTES      (env: SECS=8 run time, BURST=100 frames per 10 ms)

Client A creates a room for two and never reads again; client B joins it and sends GameData with a
PAYLOAD_BYTES pad. Every second: frames sent, the server's RSS growth, the TCP orphan count, and
`ss -tm` of A's connection on the server's side and on A's side. Afterwards read
`curl -s localhost:PORT/metrics/prom | grep -E 'dropped|disconnections'`.
Standard library only; raw WebSocket frames with a zero mask key.
"""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

PORT, SERVER_PID, PAD = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
SECS = float(os.environ.get("SECS", "8"))
BURST = int(os.environ.get("BURST", "100"))


def connect():
    s = socket.create_connection(("127.0.0.1", PORT))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /v2/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    return s, buf.split(b"\r\n\r\n", 1)[1]


def frame(text):
    payload = text.encode()
    n = len(payload)
    head = bytearray([0x81])
    if n < 126:
        head.append(0x80 | n)
    elif n < 65536:
        head.append(0x80 | 126)
        head += struct.pack(">H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack(">Q", n)
    return bytes(head) + b"\0\0\0\0" + payload  # a zero mask key leaves the payload as is


def read_message(s, buf):
    while True:
        if len(buf) >= 2:
            n, off = buf[1] & 0x7F, 2
            if n == 126:
                n, off = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                n, off = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) >= off + n:
                return json.loads(buf[off:off + n]), buf[off + n:]
        buf += s.recv(65536)


def wait_for(s, buf, kind):
    while True:
        message, buf = read_message(s, buf)
        if message["type"] == kind:
            return message, buf


def join(name, code=None):
    data = {"game_name": "slow", "player_name": name, "max_players": 2}
    if code:
        data["room_code"] = code
    return frame(json.dumps({"type": "JoinRoom", "data": data}))


def rss_kb():
    with open(f"/proc/{SERVER_PID}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def orphans():
    with open("/proc/net/sockstat") as f:
        return next(line.split()[4] for line in f if line.startswith("TCP:"))


def skmem(filt):
    lines = subprocess.run(["ss", "-Htmn", "state", "all", filt],
                           capture_output=True, text=True).stdout.splitlines()
    found = [lines[i - 1].split()[0] + " " + line.split("skmem:")[1].split(")")[0] + ")"
             for i, line in enumerate(lines) if "skmem:" in line and i > 0]
    return " | ".join(found) or "gone"


slow, slow_buf = connect()
slow.sendall(join("slow"))
joined, slow_buf = wait_for(slow, slow_buf, "RoomJoined")
fast, fast_buf = connect()
fast.sendall(join("fast", joined["data"]["room_code"]))
wait_for(fast, fast_buf, "RoomJoined")
slow_port = slow.getsockname()[1]


def drain():
    try:
        while fast.recv(65536):
            pass
    except OSError:
        pass


threading.Thread(target=drain, daemon=True).start()
message = frame(json.dumps({"type": "GameData", "data": {"data": {"pad": "x" * PAD}}}))
print(f"GameData frame {len(message)} bytes; slow client port {slow_port}", flush=True)
rss0, sent, start, last = rss_kb(), 0, time.time(), 0.0
while time.time() - start < SECS:
    for _ in range(BURST):
        fast.sendall(message)
        sent += 1
    time.sleep(0.01)
    if time.time() - last >= 1:
        last = time.time()
        server_side = skmem(f"( sport = :{PORT} and dport = :{slow_port} )")
        client_side = skmem(f"( sport = :{slow_port} )")
        print(f"t={last - start:4.1f}s sent={sent} orphans={orphans()} server_rss_delta_kb={rss_kb() - rss0}"
              f" server-side[{server_side}] client-side[{client_side}]", flush=True)
