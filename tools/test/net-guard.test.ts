/** The net guard (tools/net-guard.cjs, loaded by .mocharc.json) refuses native traffic off loopback from the test process. */
import { expect } from 'chai';
import net from 'node:net';
import dgram from 'node:dgram';
describe('net guard', () => {
  it('refuses a native connect off loopback', async () => {
    const e = await new Promise<Error>((res) => net.connect(9, '10.1.2.3').on('error', res));
    expect((e as NodeJS.ErrnoException).code).to.equal('EACCES');
  });
  it('refuses a native UDP send off loopback', async () => {
    const d = dgram.createSocket('udp4');
    const e = await new Promise<Error | null>((res) => d.send('x', 9, '10.9.9.9', res));
    d.close();
    expect((e as NodeJS.ErrnoException).code).to.equal('EACCES');
  });
  it('allows loopback', async () => {
    const e = await new Promise<Error>((res) => net.connect(9, '127.0.0.1').on('error', res));
    expect((e as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });
});
