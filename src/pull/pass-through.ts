import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { DigestVerifier, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';

/**
 * A blob streamed from the upstream straight to one client, without the cache: what the proxy does when its
 * disk has no room. The digest is still checked, and the last chunk is held back until it matches, so a
 * wrong or short body ends in a broken connection, never in a body that looks complete.
 */
export class PassThroughBlob {
  private used = false;

  constructor(
    readonly digest: Digest,
    readonly size: number | undefined,
    private readonly body: Readable,
    private readonly onFailed: (error: Error) => void,
  ) {}

  /** Nobody will read it: lets its upstream connection go (no-op once a client reads it). */
  abandon(): void {
    if (this.used) return;
    this.used = true;
    this.body.on('error', () => {}).destroy();
  }

  /** The whole blob, once; ranges and a second reader need the cache. */
  createReader(start = 0, end?: number): Readable {
    if (this.used || start !== 0 || (end !== undefined && this.size !== undefined && end !== this.size - 1)) {
      this.body.on('error', () => {}).destroy();
      throw new OciError('STORAGE_UNAVAILABLE', `the proxy cache is out of space; blob ${this.digest} can only be streamed whole, to one client`);
    }
    this.used = true;
    const verifying = new VerifyingStream(this.digest, this.size);
    verifying.on('error', (err) => this.onFailed(err));
    this.body.on('error', (err) => verifying.destroy(err));
    return this.body.pipe(verifying);
  }
}

class VerifyingStream extends Transform {
  private readonly verifier: DigestVerifier;
  private held: Buffer | undefined;
  private seen = 0;

  constructor(
    private readonly digest: Digest,
    private readonly size: number | undefined,
  ) {
    super();
    this.verifier = new DigestVerifier(digest);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.size !== undefined && this.seen > this.size) {
      done(new OciError('UPSTREAM_INVALID', `upstream sent more than the ${this.size} bytes of ${this.digest}`));
      return;
    }
    this.verifier.update(chunk);
    const previous = this.held;
    this.held = chunk;
    done(null, previous);
  }

  override _flush(done: TransformCallback): void {
    if (this.size !== undefined && this.seen !== this.size) {
      done(new OciError('UPSTREAM_INVALID', `upstream sent ${this.seen} of ${this.size} bytes of ${this.digest}`));
      return;
    }
    const actual = this.verifier.finish();
    if (actual !== this.digest) {
      done(new OciError('UPSTREAM_INVALID', `upstream content for ${this.digest} has digest ${actual}`));
      return;
    }
    done(null, this.held);
  }
}
