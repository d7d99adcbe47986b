/**
 * `npm run bench -- --smoke --native-client`: iperf3 as a rump client
 * through the LD_PRELOAD hijack, beside the Node figures. The form of the
 * output only, not its values: the report (report.txt, what it prints without --json) has the native section
 * (a table whose rows carry numbers, or one skip line with its reason), and
 * results.json carries the same rows — each measured with positive MiB/s,
 * or skipped with a reason and no values, copy requests per MiB positive
 * where the server's counters gave them. Also the --json parsing of
 * iperf3's log, on fixed inputs.
 */
import { expect } from 'chai';
import { NATIVE_LENGTH, TCP_INFO_NOTE, parseIperf3, renderNative } from '../src/bench/native.js';
import { smokeRun } from './smoke-run.js';

type J = Record<string, any>; // results.json as parsed: checked field by field below

describe('npm run bench -- --smoke --native-client', function () {
  // A bound, not a judgement: the smoke run (now with the issue table's
  // points in turns) takes several minutes at a load of 20 on 2 cores.
  this.timeout(600_000);
  let results: J;
  let stdout: string;

  before(async () => {
    // The run bench.test.ts checks too (smoke-run.ts): its report.txt is what it prints without --json.
    const r = await smokeRun();
    expect(r.code, r.tail).to.equal(0);
    stdout = r.report;
    results = r.results!;
  });

  it('records the command and a native result that is ok or skipped with a reason', () => {
    expect(results.command).to.include('--native-client');
    const n = results.native as J;
    expect(n.status).to.be.oneOf(['ok', 'skipped']);
    if (n.status === 'skipped') expect(n.reason).to.be.a('string').and.not.equal('');
  });

  it('has three directions, each with positive MiB/s per run or a reason, and the Node figure at the same size beside it', function () {
    const n = results.native as J;
    if (n.status !== 'ok') return this.skip();
    expect(n.length).to.equal(NATIVE_LENGTH);
    expect((n.rows as J[]).map((r) => r.key)).to.deep.equal(['rump-client-send', 'rump-client-receive', 'rump-server-receive']);
    for (const r of n.rows as J[]) {
      expect(r.nodeConfig).to.equal(r.direction === 'send' ? 'rump-linux' : 'linux-rump');
      const node = (results.cells as J[]).find((c) => c.config === r.nodeConfig && c.size === NATIVE_LENGTH && c.status === 'ok' && JSON.stringify(c.sender ?? c.receiver) === JSON.stringify({ mclbytes: 2048, mclnum: 16, rxMode: 'coalesced' }));
      expect(r.nodeMedian, JSON.stringify(r)).to.equal(node ? node.median : null);
      expect(r.nodeCopiesPerMiB, JSON.stringify(r)).to.equal(node ? (r.direction === 'send' ? node.copyinPerMiB : node.copyoutPerMiB) ?? null : null);
      if ('copiesPerMiB' in r) expect(r.copiesPerMiB).to.be.a('number').and.greaterThan(0);
      if (r.status === 'skipped') {
        expect(r.reason).to.be.a('string').and.not.equal('');
        expect(r).to.not.have.property('median');
      } else {
        expect(r.runs).to.have.length(results.sweep.runs);
        for (const v of [...r.runs, r.median, r.min, r.max]) expect(v).to.be.a('number').and.greaterThan(0);
      }
    }
  });

  it('prints the section in the report on stdout: a table with a number or "skipped" per row, or one skip line', () => {
    const n = results.native as J;
    if (n.status === 'skipped') {
      expect(stdout).to.include(`Native client (iperf3 through the LD_PRELOAD hijack, --native-client): skipped — ${n.reason}`);
      return;
    }
    expect(stdout).to.match(/^Native client: iperf3 \S+ through the LD_PRELOAD hijack/m);
    for (const r of n.rows as J[]) {
      const line = stdout.split('\n').find((l) => l.startsWith(r.what));
      expect(line, r.what).to.be.a('string');
      expect(line).to.match(r.status === 'ok' ? /\s\d+\.\d/ : /skipped/);
    }
  });
});

describe('bench native client: iperf3 --json and the section', () => {
  const log = (o: object): string => JSON.stringify({ start: {}, intervals: [], ...o });

  it("takes the receiver's bits per second as MiB/s, with TCP_INFO's note allowed and any other error refused", () => {
    expect(parseIperf3(log({ end: { sum_received: { bits_per_second: 8 * 1024 * 1024 * 100 } } }))).to.equal(100);
    expect(parseIperf3(log({ error: TCP_INFO_NOTE, end: { sum_received: { bits_per_second: 8 * 1024 * 1024 } } }))).to.equal(1);
    expect(() => parseIperf3(log({ error: 'unable to connect to server: Connection refused' }))).to.throw(/iperf3: unable to connect/);
    expect(() => parseIperf3(log({ error: TCP_INFO_NOTE }))).to.throw(/no end.sum_received/);
    expect(() => parseIperf3(log({ end: { sum_received: { bits_per_second: 0 } } }))).to.throw(/no end.sum_received/);
  });

  it('renders a skip as one line and a measurement beside the Node figure with their ratio', () => {
    expect(renderNative({ status: 'skipped', reason: 'no iperf3 command' })).to.equal('Native client (iperf3 through the LD_PRELOAD hijack, --native-client): skipped — no iperf3 command');
    const text = renderNative({
      status: 'ok', length: NATIVE_LENGTH, seconds: 2, runs: 3, iperf3: '3.12', transport: 'tap', rows: [
        { key: 'rump-client-send', what: 'rump iperf3 -c → Linux iperf3 -s', direction: 'send', nodeConfig: 'rump-linux', nodeMedian: 50, nodeCopiesPerMiB: 32, copiesPerMiB: 40, status: 'ok', runs: [90, 100, 110], median: 100, min: 90, max: 110 },
        { key: 'rump-client-receive', what: 'rump iperf3 -c -R ← Linux iperf3 -s', direction: 'receive', nodeConfig: 'linux-rump', nodeMedian: null, nodeCopiesPerMiB: null, status: 'skipped', reason: 'failed: iperf3: x' },
      ],
    });
    expect(text).to.match(/rump iperf3 -c → Linux iperf3 -s\s+send\s+100\.0 \(90–110\)\s+rump→Linux 50\.0\s+2\.00×\s+40\.0 \/ 32\.0$/m);
    expect(text).to.match(/rump iperf3 -c -R ← Linux iperf3 -s\s+receive\s+skipped\s+Linux→rump: not measured/);
    expect(text).to.include('skipped (rump iperf3 -c -R ← Linux iperf3 -s): failed: iperf3: x');
  });
});
