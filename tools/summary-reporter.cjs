'use strict';
/**
 * Mocha's spec reporter plus one closing line that CI reads:
 * `N passed, N failed, N skipped` (pending tests, including those that
 * skipped themselves for lack of root or /dev/net/tun, count as skipped).
 */
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || this.stats;
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}

module.exports = SummaryReporter;
