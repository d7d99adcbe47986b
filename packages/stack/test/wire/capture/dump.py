import struct, sys
def frames(path):
    d = open(path,'rb').read(); off = 24; out = []
    while off < len(d):
        ts, tu, incl, orig = struct.unpack('<IIII', d[off:off+16]); off += 16
        out.append(d[off:off+incl]); off += incl
    return out
for p in sys.argv[1:]:
    for i, f in enumerate(frames(p)):
        if f[12:14] == b'\x86\xdd': continue
        print(p, i, len(f), f.hex()[:80])
