/**
 * The {@link SyscallContext} of one call: one object per call with its
 * methods on the prototype, rather than an object literal of fresh closures
 * (four closures and two spread temporaries per syscall, on the path of
 * every echo).
 *
 * @module
 */
import { InlineSink, type CopySink, type CopySource, type InlineHold } from '../proto/copy.js';
import type { ClientSession } from './session.js';
import type { SyscallContext } from './types.js';

/** One call's context; `rx` is the receive's inline sink once the handler asked for it. */
export class CallContext implements SyscallContext {
  /** The receive's bytes held for its reply (inline receive), if the handler asked for that sink. */
  rx: InlineSink | undefined = undefined;

  /**
   * @param session the client's session
   * @param reqno the client's request number
   * @param name the syscall's wire name
   * @param signal aborted when the session closes
   * @param receives whether the call copies out (a receive: it may return its bytes inline)
   * @param inline the bytes the request carried inline, if any (borrowed for the call)
   * @param posted a posted send (no reply wanted)
   */
  constructor(
    private readonly session: ClientSession,
    readonly reqno: number,
    readonly name: string,
    readonly signal: AbortSignal,
    private readonly receives: boolean,
    readonly inline: Uint8Array | undefined,
    readonly posted: boolean,
  ) {}

  /** See {@link SyscallContext.copySource}. */
  copySource(handle: number): CopySource {
    return this.session.copySource(handle);
  }

  /** See {@link SyscallContext.copySink}. */
  copySink(handle: number): CopySink {
    return this.session.copySink(handle);
  }

  /** See {@link SyscallContext.receiveSink}: one inline sink per call, the last one asked for. */
  receiveSink(handle: number, hold: InlineHold): CopySink {
    const limit = this.session.inlineRecvMax;
    if (limit <= 0 || !this.receives) return this.session.copySink(handle);
    this.rx?.discard();
    this.rx = new InlineSink(limit, this.session.copySink(handle), hold);
    return this.rx;
  }

  /** True once {@link CallContext.detach} moved the call out of the in-flight count. */
  detached = false;

  /** See {@link SyscallContext.detach}. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.session.detachCall();
  }

  /** See {@link SyscallContext.inlineSource}. */
  inlineSource(): CopySource {
    return this.session.inlineSource(this.inline);
  }
}
