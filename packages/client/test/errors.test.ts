import { expect } from 'chai';
import { errnoCode, errnoValue, syscallError, RumpProtocolError } from '../src/index.js';
import { parseServerUrl } from '../src/wire.js';

describe('client errors: Node-shaped', () => {
  it('maps errno numbers to names through os.constants, canonical names for aliases', () => {
    expect(errnoCode(111)).to.equal('ECONNREFUSED');
    expect(errnoCode(-111)).to.equal('ECONNREFUSED');
    expect(errnoCode(11)).to.equal('EAGAIN');
    expect(errnoCode(14)).to.equal('EFAULT');
    expect(errnoCode(9999)).to.equal('E9999');
    expect(errnoValue('EADDRINUSE')).to.equal(98);
  });

  it('builds the exceptionWithHostPort shape', () => {
    const e = syscallError(111, 'connect', '10.0.0.2', 80);
    expect(e).to.be.instanceOf(Error);
    expect(e.message).to.equal('connect ECONNREFUSED 10.0.0.2:80');
    expect(e).to.include({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '10.0.0.2', port: 80 });
  });

  it('omits the address part when the call named none, and port 0', () => {
    const e = syscallError(9, 'close');
    expect(e.message).to.equal('close EBADF');
    expect(e).to.not.have.property('address');
    const b = syscallError(98, 'bind', '0.0.0.0', 0);
    expect(b.message).to.equal('bind EADDRINUSE 0.0.0.0');
    expect(b).to.not.have.property('port');
  });

  it('protocol errors carry a stable code and the server detail', () => {
    const e = new RumpProtocolError('ERR_RUMP_PROTOCOL', 'unknown syscall', { reason: 'x' });
    expect(e.code).to.equal('ERR_RUMP_PROTOCOL');
    expect(e.detail).to.deep.equal({ reason: 'x' });
  });

  it('parses RUMP_SERVER-style URLs', () => {
    expect(parseServerUrl('unix:///run/rump.sock')).to.deep.equal({ kind: 'unix', path: '/run/rump.sock' });
    expect(parseServerUrl('tcp://127.0.0.1:9000')).to.deep.equal({ kind: 'tcp', host: '127.0.0.1', port: 9000 });
    expect(() => parseServerUrl('ftp://x')).to.throw(TypeError);
  });
});
