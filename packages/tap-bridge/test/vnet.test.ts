/**
 * `struct virtio_net_hdr` encode/decode and the receive flags it maps to.
 * The fixture is the header Linux's `tun_put_user` writes in front of a
 * TCP super-packet at MTU 1500 with timestamps (little endian: NEEDS_CSUM,
 * GSO_TCPV4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16);
 * the offload interop test checks a real one has this shape.
 */
import { expect } from 'chai';
import { RxFlag } from '../../stack/src/link/link.js';
import {
  RX_CSUM_PARTIAL,
  RX_CSUM_VALID,
  RX_GSO,
  VNET_HDR_LEN,
  VnetGso,
  emitVnetHdr,
  parseVnetHdr,
  rxFlagsOf,
} from '../src/vnet.js';

const FIXTURE = Uint8Array.of(0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00);

describe('virtio_net_hdr', () => {
  it('decodes a header the kernel wrote', () => {
    expect(parseVnetHdr(FIXTURE)).to.deep.equal({ flags: 1, gsoType: VnetGso.TCPV4, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    expect(rxFlagsOf(FIXTURE, 0)).to.equal(RX_CSUM_PARTIAL | RX_GSO);
  });

  it('encodes what it decodes, at an offset', () => {
    const b = new Uint8Array(14).fill(0xee);
    emitVnetHdr({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 }, b, 3);
    expect(b.subarray(3, 3 + VNET_HDR_LEN)).to.deep.equal(FIXTURE);
    expect(b[2]).to.equal(0xee);
    expect(b[13]).to.equal(0xee);
    expect(parseVnetHdr(b, 3)).to.deep.equal(parseVnetHdr(FIXTURE));
  });

  it('refuses short buffers and out-of-range fields without reading past the end', () => {
    expect(parseVnetHdr(FIXTURE.subarray(0, 9))).to.equal('truncated');
    expect(parseVnetHdr(FIXTURE, 1)).to.equal('truncated');
    expect(() => emitVnetHdr({ flags: 0, gsoType: 0, hdrLen: 0x10000, gsoSize: 0, csumStart: 0, csumOffset: 0 }, new Uint8Array(10))).to.throw(RangeError);
    expect(() => emitVnetHdr({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 }, new Uint8Array(9))).to.throw(RangeError);
  });

  it('maps flags and GSO types to the stack receive flags; refuses kinds never offered', () => {
    const h = (flags: number, gso: number) => Uint8Array.of(flags, gso, 0, 0, 0, 0, 0, 0, 0, 0);
    expect(rxFlagsOf(h(0, 0), 0)).to.equal(0);
    expect(rxFlagsOf(h(2, 0), 0)).to.equal(RX_CSUM_VALID);
    expect(rxFlagsOf(h(1, VnetGso.TCPV4 | VnetGso.ECN), 0)).to.equal(RX_CSUM_PARTIAL | RX_GSO);
    expect(rxFlagsOf(h(1, VnetGso.TCPV6), 0)).to.equal(-1);
    expect(rxFlagsOf(h(1, VnetGso.UDP_L4), 0)).to.equal(-1);
  });

  it("repeats the stack's RxFlag values exactly", () => {
    expect({ RX_CSUM_VALID, RX_CSUM_PARTIAL, RX_GSO }).to.deep.equal({
      RX_CSUM_VALID: RxFlag.CSUM_VALID,
      RX_CSUM_PARTIAL: RxFlag.CSUM_PARTIAL,
      RX_GSO: RxFlag.GSO,
    });
  });
});
