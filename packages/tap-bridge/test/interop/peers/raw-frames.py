#!/usr/bin/env python3
"""Raw Ethernet frames on a namespace's interface, for the hostile-input interop tests.

Usage: raw-frames.py IFNAME SRC_MAC_FILTER
Reads JSON lines on stdin: {"send": ["<hex frame>", ...]} sends each frame as is
(AF_PACKET, no kernel processing); prints {"event": "sent", "n": N}.
Prints {"event": "rx", "hex": "..."} for every IPv4 frame received on IFNAME
whose source MAC is SRC_MAC_FILTER (what the stack sends), and
{"event": "ready"} once the socket is bound. Exits on EOF of stdin.
Every frame stays on IFNAME, inside the test's namespace.
"""
import json
import os
import select
import socket
import sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ifname = sys.argv[1]
    want_src = bytes.fromhex(sys.argv[2].replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.setblocking(False)
    out({"event": "ready"})
    stdin = sys.stdin.fileno()
    buf = b""
    idle_rounds = 0
    while True:
        r, _, _ = select.select([s, stdin], [], [], 1.0)
        # Bounded: ten minutes without anything to do at most. Busy rounds do
        # not count (a flood test makes the stack answer thousands of frames).
        idle_rounds = idle_rounds + 1 if not r else 0
        if idle_rounds > 600:
            return
        if s in r:
            for _ in range(256):
                try:
                    frame, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                if len(frame) >= 14 and frame[6:12] == want_src and frame[12:14] == b"\x08\x00":
                    out({"event": "rx", "hex": frame.hex()})
        if stdin in r:
            chunk = os.read(stdin, 65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                cmd = json.loads(line)
                frames = cmd.get("send", [])
                for h in frames:
                    s.send(bytes.fromhex(h))
                out({"event": "sent", "n": len(frames)})


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reported to the test, which fails with it
        out({"event": "error", "message": repr(e)})
        sys.exit(1)
