/**
 * DHCP messages (wire/dhcp.ts): emit then parse gives the message back,
 * the options a client reads come out right, and every malformed input —
 * short, wrong cookie, wrong hardware, an option running past the end, no
 * END — is a named refusal, never a throw or a read past the buffer (fuzz).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { BootpOp, DHCP_FIXED_LEN, DhcpOpt, DhcpRepr, DhcpType, dhcpU32 } from '../../src/wire/dhcp.js';

const MAC = Uint8Array.of(2, 0, 0x5e, 1, 2, 3);

function offer(): DhcpRepr {
  return {
    op: BootpOp.REPLY, xid: 0xdeadbeef, secs: 3, flags: 0x8000, ciaddr: 0, yiaddr: 0x0a000032, siaddr: 0x0a000001, giaddr: 0,
    chaddr: MAC,
    options: new Map([
      [DhcpOpt.MESSAGE_TYPE, Uint8Array.of(DhcpType.OFFER)],
      [DhcpOpt.SERVER_ID, dhcpU32(0x0a000001)],
      [DhcpOpt.SUBNET_MASK, dhcpU32(0xffffff00)],
      [DhcpOpt.ROUTER, dhcpU32(0x0a000001)],
      [DhcpOpt.DNS, Uint8Array.of(10, 0, 0, 1, 10, 0, 0, 2, 9)],
      [DhcpOpt.LEASE_TIME, dhcpU32(120)],
    ]),
  };
}

describe('wire: DHCP messages (RFC 2131, RFC 2132)', () => {
  it('emit then parse gives the message back; the client reads its options', () => {
    const r = offer();
    const buf = new Uint8Array(DhcpRepr.bufferLen(r));
    expect(DhcpRepr.emit(r, buf)).to.equal(buf.length);
    expect(buf.length).to.be.at.least(300); // BOOTP minimum (RFC 1542 2.1)
    const p = DhcpRepr.parse(buf);
    if (typeof p === 'string') throw new Error(p);
    expect({ ...p, options: undefined }).to.deep.equal({ ...r, options: undefined });
    expect([...p.options.keys()]).to.deep.equal([...r.options.keys()]);
    expect(DhcpRepr.type(p)).to.equal(DhcpType.OFFER);
    expect(DhcpRepr.addr(p, DhcpOpt.SERVER_ID)).to.equal(0x0a000001);
    expect(DhcpRepr.u32(p, DhcpOpt.LEASE_TIME)).to.equal(120);
    expect(DhcpRepr.addrs(p, DhcpOpt.DNS)).to.deep.equal([0x0a000001, 0x0a000002]); // the odd byte is ignored
    expect(DhcpRepr.addr(p, DhcpOpt.RENEWAL_T1)).to.equal(null);
  });

  it('refuses malformed messages with a reason, skipping PADs', () => {
    const r = offer();
    const buf = new Uint8Array(DhcpRepr.bufferLen(r));
    DhcpRepr.emit(r, buf);
    expect(DhcpRepr.parse(buf.subarray(0, DHCP_FIXED_LEN - 1))).to.equal('truncated');
    const cookie = buf.slice();
    cookie[236] = 0;
    expect(DhcpRepr.parse(cookie)).to.equal('badCookie');
    const hw = buf.slice();
    hw[2] = 16;
    expect(DhcpRepr.parse(hw)).to.equal('badHardware');
    const noEnd = buf.slice();
    noEnd.fill(0, DHCP_FIXED_LEN); // all PAD, no END
    expect(DhcpRepr.parse(noEnd)).to.equal('badOption');
    const past = buf.slice(0, DHCP_FIXED_LEN + 3);
    past[DHCP_FIXED_LEN] = DhcpOpt.HOSTNAME;
    past[DHCP_FIXED_LEN + 1] = 200; // longer than what is there
    expect(DhcpRepr.parse(past)).to.equal('badOption');
    const pads = buf.slice();
    pads.copyWithin(DHCP_FIXED_LEN + 2, DHCP_FIXED_LEN); // two PADs first
    pads[DHCP_FIXED_LEN] = 0;
    pads[DHCP_FIXED_LEN + 1] = 0;
    const pp = DhcpRepr.parse(pads);
    expect(typeof pp === 'string' ? pp : DhcpRepr.type(pp)).to.equal(DhcpType.OFFER);
    expect(() => DhcpRepr.emit({ ...r, chaddr: new Uint8Array(4) }, new Uint8Array(400))).to.throw(RangeError);
    expect(() => DhcpRepr.emit({ ...r, options: new Map([[12, new Uint8Array(256)]]) }, new Uint8Array(800))).to.throw(RangeError);
  });

  it('never throws on random bytes after a valid header (fuzz)', () => {
    const r = offer();
    const head = new Uint8Array(DhcpRepr.bufferLen(r));
    DhcpRepr.emit(r, head);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(300), (tail, cut) => {
        const b = new Uint8Array(DHCP_FIXED_LEN + tail.length);
        b.set(head.subarray(0, DHCP_FIXED_LEN));
        b.set(tail, DHCP_FIXED_LEN);
        const p = DhcpRepr.parse(b.subarray(0, Math.min(b.length, DHCP_FIXED_LEN + cut)));
        if (typeof p !== 'string') for (const v of p.options.values()) expect(v.length).to.be.at.most(255);
      }),
      { numRuns: 1000 },
    );
  });
});
