/**
 * Listing replies (`ctl.netstat` sockets, `ctl.arp`) stay within one head:
 * at most `limit` rows, and never more bytes than MAX_HEAD, flagged
 * `truncated` — a larger head would make the client's reader drop the
 * connection.
 */
import { expect } from 'chai';
import { boundRows } from '../src/ctl/handlers.js';
import { CTL_ROWS_DEFAULT, MAX_HEAD, packHead } from '../src/proto/index.js';

/** A row the size of a `netstat -an` socket row. */
const row = (i: number) => ({
  id: i,
  proto: 'tcp',
  recvQ: 0,
  sendQ: 0,
  local: { family: 'inet', address: '10.0.0.1', port: 10_000 + i },
  foreign: { family: 'inet', address: '10.0.0.2', port: 80 },
  state: 'ESTABLISHED',
  session: 1,
  fd: i + 3,
});

describe('ctl listings are bounded', () => {
  it('passes a small list through whole', () => {
    const all = Array.from({ length: 50 }, (_, i) => row(i));
    const r = boundRows(all, undefined, (rows) => ({ sockets: rows }));
    expect(r).to.deep.equal({ rows: all, truncated: false });
  });

  it('cuts thousands of sockets to what fits one head, flagged truncated', () => {
    const all = Array.from({ length: 5000 }, (_, i) => row(i));
    expect(packHead({ result: { sockets: all } }).length).to.be.greaterThan(MAX_HEAD); // the failing case
    const r = boundRows(all, undefined, (rows) => ({ sockets: rows }));
    expect(r.truncated).to.equal(true);
    expect(r.rows.length).to.be.greaterThan(100);
    expect(r.rows).to.deep.equal(all.slice(0, r.rows.length));
    const head = packHead({ result: { sockets: r.rows, truncated: true, total: all.length } });
    expect(head.length).to.be.at.most(MAX_HEAD);
  });

  it('honours limit (default CTL_ROWS_DEFAULT)', () => {
    const all = Array.from({ length: 30 }, (_, i) => ({ i }));
    expect(boundRows(all, 7, (rows) => rows)).to.deep.equal({ rows: all.slice(0, 7), truncated: true });
    const many = Array.from({ length: CTL_ROWS_DEFAULT + 5 }, (_, i) => i);
    const r = boundRows(many, undefined, (rows) => rows);
    expect(r.rows).to.have.length(CTL_ROWS_DEFAULT);
    expect(r.truncated).to.equal(true);
  });
});
