/**
 * Posted sends on the server (docs/PROTOCOL.md §6, "Posted sends"): a
 * stream `sendto` whose bytes came inline and whose client asked for no
 * reply. The session runs it as any call but answers nothing on success;
 * this table numbers those requests in arrival order, keeps the window the
 * handshake announced, says in RESP heads how far they are done (`pd`),
 * keeps later calls on the same descriptor behind them, and holds a failed
 * one's errno for the descriptor's next call — BSD's `so_error`, which
 * reports an error the process could not be told of when it happened.
 *
 * @module
 */

/** The window a session announced: posted sends not yet acknowledged. */
export interface PostedWindow {
  /** Most inline bytes of posted sends outstanding (0: posted sends off). */
  readonly bytes: number;
  /** Most posted sends outstanding. */
  readonly calls: number;
}

/**
 * Calls that do not wait behind a descriptor's posted sends: a receive
 * sees nothing of a send (a blocked posted send and a standing recv must
 * run together, as a blocked write and a read do in a kernel), and `poll`
 * names no single descriptor.
 */
const UNORDERED: ReadonlySet<string> = new Set(['recvfrom', 'poll']);

/** The descriptor a call acts on, when it must follow that descriptor's posted sends. */
export function orderedFd(name: string, args: unknown): number | undefined {
  if (UNORDERED.has(name) || typeof args !== 'object' || args === null) return undefined;
  const fd = (args as { fd?: unknown }).fd;
  return typeof fd === 'number' && Number.isInteger(fd) ? fd : undefined;
}

/**
 * The reply of a call that takes a failed posted send's errno instead of
 * running: `getsockopt(SO_ERROR)` returns it as its value (and clears it,
 * as BSD's does), any other call fails with it.
 */
export function lateErrorReply(name: string, args: unknown, errno: number): Record<string, unknown> {
  const a = (args ?? {}) as { level?: unknown; name?: unknown };
  if (name === 'getsockopt' && a.level === 'socket' && a.name === 'SO_ERROR') return { result: { value: errno } };
  return { errno, reason: 'the error of an earlier posted send on this socket' };
}

/** One session's posted sends. */
export class PostedSends {
  /** Posted requests seen, in arrival order (each one's number). */
  private seen = 0;
  /** Every posted request numbered up to here is done (its RESP-less completion or late error). */
  private doneTo = 0;
  /** Done out of order, above {@link PostedSends.doneTo}. */
  private readonly doneAbove = new Set<number>();
  /** `doneTo` as last told to the client in a RESP head. */
  private told = 0;
  /** Outstanding posted requests (arrived, not done) and their inline bytes. */
  private outCalls = 0;
  private outBytes = 0;
  /** Per descriptor: the completion of its last posted send still running. */
  private readonly chains = new Map<number, Promise<void>>();
  /** Per descriptor: the errno of a failed posted send, for its next call (`so_error`). */
  private readonly errors = new Map<number, number>();

  constructor(readonly window: PostedWindow) {}

  /** Posted sends outstanding now (for `rumpctl usage`). */
  get outstanding(): { calls: number; bytes: number } {
    return { calls: this.outCalls, bytes: this.outBytes };
  }

  /**
   * Numbers a posted request as it arrives and charges `bytes` to the
   * window. `over` when it does not fit: the client broke the window it was
   * given (a well-behaved one counts acknowledgements, which lag ours); the
   * caller refuses it (ENOBUFS) and marks it done at once.
   */
  arrive(bytes: number): { seq: number; over: boolean } {
    const seq = ++this.seen;
    if (this.outCalls + 1 > this.window.calls || this.outBytes + bytes > this.window.bytes) return { seq, over: true };
    this.outCalls++;
    this.outBytes += bytes;
    return { seq, over: false };
  }

  /** Marks posted request `seq` done; `bytes` it was charged (0 when it was refused on arrival). */
  done(seq: number, bytes: number, charged: boolean): void {
    if (charged) {
      this.outCalls--;
      this.outBytes -= bytes;
    }
    if (seq !== this.doneTo + 1) {
      this.doneAbove.add(seq);
      return;
    }
    this.doneTo = seq;
    // Bounded by the window: at most `calls` numbers wait above.
    while (this.doneAbove.delete(this.doneTo + 1)) this.doneTo++;
  }

  /**
   * The acknowledgement for the next RESP head: every posted request up to
   * this number is done. Undefined when nothing changed since the last one.
   */
  ack(): number | undefined {
    if (this.doneTo === this.told) return undefined;
    this.told = this.doneTo;
    return this.doneTo;
  }

  /**
   * Puts a posted send on descriptor `fd`'s chain: resolves when the posted
   * sends before it on `fd` are done; `finish` ends its own link.
   */
  link(fd: number): { before: Promise<void> | undefined; finish: () => void } {
    const before = this.chains.get(fd);
    let finish!: () => void;
    const mine = new Promise<void>((r) => (finish = r));
    const chained = before === undefined ? mine : before.then(() => mine);
    this.chains.set(fd, chained);
    return {
      before,
      finish: () => {
        finish();
        // The last link clears the chain: later calls on fd need not wait.
        void chained.then(() => {
          if (this.chains.get(fd) === chained) this.chains.delete(fd);
        });
      },
    };
  }

  /** What a later call on `fd` must wait for: the posted sends on it still running, if any. */
  pending(fd: number): Promise<void> | undefined {
    return this.chains.get(fd);
  }

  /** Keeps the first failed posted send's errno for `fd`'s next call. */
  setError(fd: number, errno: number): void {
    if (!this.errors.has(fd)) this.errors.set(fd, errno);
  }

  /** Takes (and clears) the errno kept for `fd`, as soreceive/sosend take `so_error`. */
  takeError(fd: number): number | undefined {
    const e = this.errors.get(fd);
    if (e !== undefined) this.errors.delete(fd);
    return e;
  }
}
