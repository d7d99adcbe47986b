# A two-port wire between tap devices in two network namespaces (argv: nsA nsB tapA tapB seconds).
# Forwards every frame; drops TCP segments whose payload starts with b'SEG3' or b'SEG5' (once each)
# so that Linux's receiver answers with SACK blocks; inserts an 802.1Q tag (VID 10, PCP 0) into
# ICMP echo requests whose payload carries b'VLANME' so the capture holds a real tagged frame.
import ctypes, os, fcntl, struct, select, sys, time
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454ca; IFF_TAP = 0x0002; IFF_NO_PI = 0x1000
def open_tap(ns, name):
    fd = os.open('/var/run/netns/' + ns, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0: raise OSError(ctypes.get_errno(), 'setns')
    os.close(fd)
    t = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(t, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TAP | IFF_NO_PI))
    return t
nsA, nsB, ta, tb, secs = sys.argv[1:6]
fa = open_tap(nsA, ta); fb = open_tap(nsB, tb)
dropped = []
end = time.time() + float(secs)
while time.time() < end:
    r, _, _ = select.select([fa, fb], [], [], 0.1)
    for f in r:
        fr = os.read(f, 65536)
        other = fb if f == fa else fa
        if len(fr) > 34 and fr[12:14] == b'\x08\x00' and fr[23] == 6:
            ihl = (fr[14] & 15) * 4; doff = (fr[14 + ihl + 12] >> 4) * 4
            pl = fr[14 + ihl + doff:]
            for tag in (b'SEG3', b'SEG5', b'SEG7'):
                if pl.startswith(tag) and dropped.count(tag) < 3:
                    dropped.append(tag); fr = None; break
        if fr and len(fr) > 34 and fr[12:14] == b'\x08\x00' and fr[23] == 1 and b'VLANME' in fr:
            fr = fr[:12] + b'\x81\x00\x00\x0a' + fr[12:]
        if fr: os.write(other, fr)
