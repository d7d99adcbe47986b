// IPv6 byte fixtures from REAL captures (tcpdump, Linux 6.18), in network namespaces created and
// deleted for the capture: lo of one namespace (`ping -6 -s 8 ::1`), and a veth pair between two
// namespaces carrying fd00:77::1 and fd00:77::2 (`ping -6 fd00:77::2`, which first resolved the
// neighbour). ICMPv6 checksums are complete (the kernel computes them in software). Do not edit the hex.
import { hex } from './fixtures.js';

/** lo: ICMPv6 echo request ::1 > ::1, id 0x23ce seq 1, 8 data bytes, flow label 0xc5309, hop limit 64. 70 bytes. */
export const LO6_ECHO_REQUEST = hex(
  '00000000000000000000000086dd600c530900103a40000000000000000000000000000000010000000000000000000000' +
    '000000000180004fd423ce00010001020304050607',
);

/** veth: Neighbor Solicitation fd00:77::1 > ff02::1:ff00:2 for fd00:77::2, source link-layer option da:68:39:28:f8:19. 86 bytes. */
export const VETH6_NS = hex(
  '3333ff000002da683928f81986dd6000000000203afffd000077000000000000000000000001ff020000000000000000' +
    '0001ff000002870072ff00000000fd0000770000000000000000000000020101da683928f819',
);

/** veth: Neighbor Advertisement fd00:77::2 > fd00:77::1 (solicited, override), target link-layer 16:09:46:d9:ed:da. 86 bytes. */
export const VETH6_NA = hex(
  'da683928f819160946d9edda86dd6000000000203afffd000077000000000000000000000002fd00007700000000000000' +
    '00000000018800d27960000000fd0000770000000000000000000000020201160946d9edda',
);
