/**
 * Posted sends on the client (docs/PROTOCOL.md §6, "Posted sends"): a
 * stream send whose bytes go inline is written with the POSTED flag and
 * completes at once — as a native `write(2)` returns once the kernel has the
 * bytes — instead of waiting for a RESP. The server numbers posted requests
 * in arrival order and says in any RESP head how far they are done (`pd`);
 * a failure comes late, as a RESP to the posted request's own number. This
 * window keeps what is outstanding within what the handshake granted, and
 * keeps each outstanding request's number reserved so that a late error
 * finds its socket.
 *
 * @module
 */

/** One posted send not yet acknowledged. */
interface Outstanding {
  readonly seq: number;
  readonly reqno: number;
  readonly bytes: number;
  /** Told of the send's late error (the Node socket emits it as `'error'`). */
  readonly onLateError: ((err: Error) => void) | undefined;
}

/** The client's side of the posted-send window of one connection. */
export class PostedWindow {
  /** Posted sends made (the number the server gives the next one is this + 1). */
  private seq = 0;
  private bytes = 0;
  /** Outstanding posts, oldest first (acknowledgements come in order). */
  private readonly fifo: Outstanding[] = [];
  private head = 0;
  private readonly byReq = new Map<number, Outstanding>();

  /**
   * @param maxBytes the window's bytes (the handshake's `postedWindow`)
   * @param maxCalls the window's requests (the handshake's `postedCalls`)
   */
  constructor(
    readonly maxBytes: number,
    readonly maxCalls: number,
  ) {}

  /** Posted sends not yet acknowledged. */
  get outstanding(): number {
    return this.byReq.size;
  }

  /** Whether a post of `bytes` fits the window now. */
  fits(bytes: number): boolean {
    return this.byReq.size < this.maxCalls && this.bytes + bytes <= this.maxBytes;
  }

  /** Records a post (request `reqno`, `bytes` inline); its number is reserved until acknowledged. */
  post(reqno: number, bytes: number, onLateError: ((err: Error) => void) | undefined): void {
    const o: Outstanding = { seq: ++this.seq, reqno, bytes, onLateError };
    this.fifo.push(o);
    this.byReq.set(reqno, o);
    this.bytes += bytes;
  }

  /** True while request number `reqno` belongs to an outstanding post. */
  has(reqno: number): boolean {
    return this.byReq.has(reqno);
  }

  /** The late-error callback of outstanding post `reqno` (undefined: none, or not a post). */
  lateErrorHandler(reqno: number): ((err: Error) => void) | undefined {
    return this.byReq.get(reqno)?.onLateError;
  }

  /**
   * The server's acknowledgement `pd`: every post numbered up to it is done.
   * A number beyond what was posted, or going back, is ignored (counted by
   * the caller as a protocol error: false).
   */
  ack(pd: number): boolean {
    if (!Number.isInteger(pd) || pd < 0 || pd > this.seq) return false;
    // Bounded by the window: each pass drops one outstanding post.
    while (this.head < this.fifo.length && this.fifo[this.head]!.seq <= pd) {
      const o = this.fifo[this.head++]!;
      this.byReq.delete(o.reqno);
      this.bytes -= o.bytes;
    }
    if (this.head > 64 && this.head * 2 > this.fifo.length) {
      this.fifo.splice(0, this.head);
      this.head = 0;
    }
    return true;
  }
}
