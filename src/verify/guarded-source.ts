import type { Digest } from '../oci/digest.js';
import type { ArtifactSource, ReferrersPage } from './types.js';

/**
 * Wraps an ArtifactSource so upstream failures are recorded instead of thrown: `undefined` means the fetch
 * failed (the evidence is incomplete, so the caller fails closed), `null` means "not there".
 */
export class GuardedSource {
  readonly errors: string[] = [];

  constructor(private readonly source: ArtifactSource) {}

  async manifest(reference: string): Promise<{ bytes: Buffer; digest: Digest; mediaType: string } | null | undefined> {
    return this.guard(`manifest ${reference}`, () => this.source.manifest(reference));
  }

  async blob(digest: Digest, maxBytes: number): Promise<Buffer | undefined> {
    return this.guard(`blob ${digest}`, () => this.source.blob(digest, maxBytes));
  }

  async referrers(subject: Digest, next?: string): Promise<ReferrersPage | null | undefined> {
    return this.guard(`referrers of ${subject}`, () => this.source.referrers(subject, next));
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }
}
