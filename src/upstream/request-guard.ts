import type { Readable } from 'node:stream';
import { UpstreamError } from './errors.js';

/** Defaults of the per-upstream limits (the config schema sets the same). */
export const UPSTREAM_LIMIT_DEFAULTS = {
  metadataDeadlineMs: 30_000,
  blobMinBytesPerSecond: 16 * 1024,
  blobRateWindowMs: 30_000,
  maxConnections: 64,
  maxConnectionsPerRepository: 16,
} as const;

/** Metadata (manifests, tag lists, referrers, signature artifacts) is small; blobs may be gigabytes. */
export type RequestPurpose = 'metadata' | 'blob';

export interface GuardLimits {
  /** The whole of a metadata request; for a blob, the wait for its response headers. */
  deadlineMs: number;
  /** A blob body that brings fewer bytes than this per second, over any rate window, is abandoned. */
  minBytesPerSecond: number;
  rateWindowMs: number;
}

/**
 * The time limits of one upstream request. An idle timeout alone is reset by every byte, so an upstream that
 * drips a byte every few seconds would hold the connection for as long as it likes. A metadata request gets
 * one deadline for everything (queueing, retries, headers, body); a blob gets the deadline for its headers
 * once sent, then must keep up a minimum rate, so a large layer over a slow link still arrives and a drip does not.
 * The client's signal, when given, abandons the request as soon as nobody waits for it.
 */
export class RequestGuard {
  private readonly controller = new AbortController();
  private deadline: NodeJS.Timeout | undefined;
  private rateTimer: NodeJS.Timeout | undefined;
  private body: Readable | undefined;
  private stage = 'waiting for a free connection';
  private ended = false;
  /** The deadline passed while the upstream had the request and sent no answer: it counts as down. */
  silent = false;

  constructor(
    private readonly limits: GuardLimits,
    private readonly purpose: RequestPurpose,
    /** e.g. `upstream docker.io: GET library/alpine/manifests/3` */
    private readonly what: string,
    private readonly client?: AbortSignal,
  ) {
    if (purpose === 'metadata') this.startDeadline();
    if (client?.aborted) this.clientGone();
    else client?.addEventListener('abort', this.clientGone);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Called when the request is sent (after any wait for a connection slot). A blob's deadline starts here:
   * its queue drains as the downloads ahead of it finish or fall below the minimum rate, and a 504 for
   * waiting behind healthy downloads of the same repository would only send clients back to retry.
   */
  sending(): void {
    this.stage = 'waiting for the response';
    if (this.purpose === 'blob') this.startDeadline();
  }

  private startDeadline(): void {
    const { deadlineMs } = this.limits;
    this.deadline = setTimeout(() => {
      this.silent = this.stage === 'waiting for the response';
      const setting = this.purpose === 'metadata' ? 'metadataDeadline' : 'metadataDeadline, for the response headers';
      this.abort(new UpstreamError('timeout', `${this.what} took longer than ${seconds(deadlineMs)} s (${setting}; ${this.stage})`));
    }, deadlineMs);
    this.deadline.unref();
  }

  /** Watches a response body until it closes; then `onClose` runs, once. */
  watch(body: Readable, onClose: () => void): void {
    this.body = body;
    this.stage = 'receiving the body';
    const done = () => {
      this.finish();
      onClose();
    };
    if (body.destroyed || body.closed) return done();
    body.once('close', done);
    if (this.purpose === 'blob') {
      clearTimeout(this.deadline);
      this.deadline = undefined;
      this.watchRate(body);
    }
    if (this.controller.signal.aborted) body.destroy(this.controller.signal.reason as Error);
  }

  /** Stops every timer; the request is over (failed, or its body closed). */
  finish(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.deadline);
    clearInterval(this.rateTimer);
    this.client?.removeEventListener('abort', this.clientGone);
  }

  private readonly clientGone = (): void => {
    this.abort(new UpstreamError('abandoned', `${this.what} abandoned: no client waits for it any more`));
  };

  private abort(reason: UpstreamError): void {
    if (this.ended || this.controller.signal.aborted) return;
    this.controller.abort(reason);
    // undici stops listening to the signal once the body has arrived; the body may still be unread.
    this.body?.destroy(reason);
  }

  /**
   * Counts the bytes undici pushes into the body (as they arrive from the network, whether or not they have
   * been read yet) and abandons the transfer when a window brings fewer than the minimum.
   */
  private watchRate(body: Readable): void {
    const { minBytesPerSecond, rateWindowMs } = this.limits;
    if (minBytesPerSecond <= 0) return;
    let received = 0;
    let complete = false;
    const push = body.push.bind(body);
    body.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk === null) complete = true;
      else if (chunk) received += (chunk as Buffer).length;
      return push(chunk, encoding);
    };
    let before = 0;
    const wanted = (minBytesPerSecond * rateWindowMs) / 1000;
    this.rateTimer = setInterval(() => {
      // All of it arrived: what is left unread is the reader's business.
      if (complete) return void clearInterval(this.rateTimer);
      const got = received - before;
      before = received;
      // Bytes waiting unread are the reader's delay, not the upstream's: only a slow network counts.
      if (got < wanted && body.readableLength < body.readableHighWaterMark) {
        this.abort(new UpstreamError(
          'timeout',
          `${this.what} sent ${got} bytes in ${seconds(rateWindowMs)} s, below the minimum of ${minBytesPerSecond} bytes/s (blobMinRate)`,
        ));
      }
    }, rateWindowMs);
    this.rateTimer.unref();
  }
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
