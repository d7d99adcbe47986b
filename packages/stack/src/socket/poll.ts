/**
 * `poll(2)` over sockets (NetBSD `sopoll()` and `pollscan()`): readable,
 * writable, error and hang-up for many sockets at once, sleeping until one
 * of them changes or the timeout passes.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../kern/clock.js';
import { POLL, SS } from './constants.js';
import type { Socket } from './socket.js';

const IN = POLL.IN | POLL.RDNORM;
const OUT = POLL.OUT | POLL.WRNORM;

/**
 * The events that hold for `so` now, among `events` (POLLERR, POLLHUP and
 * POLLNVAL are reported whether asked or not, as poll(2) does). A null or
 * closed socket is POLLNVAL.
 */
export function soPollEvents(so: Socket | null, events: number): number {
  if (so === null || so.closed) return POLL.NVAL;
  let r = 0;
  if ((events & IN) !== 0 && so.readable()) r |= events & IN;
  if ((events & OUT) !== 0 && so.writable()) r |= events & OUT;
  if (so.error !== 0) r |= POLL.ERR;
  const both = SS.CANTRCVMORE | SS.CANTSENDMORE;
  if ((so.state & both) === both || (so.state & SS.ISDISCONNECTED) !== 0) r |= POLL.HUP;
  return r;
}

/** One entry of a poll set. */
export interface PollEntry {
  /** The socket, or null for a descriptor that is not one (POLLNVAL). */
  so: Socket | null;
  /** `POLL*` bits of interest. */
  events: number;
}

/**
 * Wait until at least one entry has events, or `timeoutMs` passes (0: do
 * not wait; negative: no timeout). Never rejects.
 * @returns the `revents` of every entry, in order (all 0 on timeout).
 */
export function soPoll(entries: readonly PollEntry[], timeoutMs: number, clock: Clock): Promise<number[]> {
  const scan = (): number[] | null => {
    const out = entries.map((e) => soPollEvents(e.so, e.events));
    return out.some((r) => r !== 0) ? out : null;
  };
  const now = scan();
  if (now !== null) return Promise.resolve(now);
  if (timeoutMs === 0 || entries.length === 0 && timeoutMs < 0) return Promise.resolve(entries.map(() => 0));
  return new Promise((resolve) => {
    const unwatch: Array<() => void> = [];
    let timer: TimerHandle | null = null;
    let done = false;
    const finish = (r: number[]): void => {
      if (done) return;
      done = true;
      for (const u of unwatch) u();
      if (timer !== null) clock.clearTimeout(timer);
      resolve(r);
    };
    // A wakeup only means "something may have changed": re-scan (cheap) and
    // keep sleeping when nothing asked for holds yet.
    const onChange = (): void => {
      const r = scan();
      if (r !== null) finish(r);
    };
    for (const e of entries) if (e.so !== null) unwatch.push(e.so.watch(onChange));
    if (timeoutMs > 0) timer = clock.setTimeout(() => finish(entries.map(() => 0)), timeoutMs);
  });
}
