import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrustConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import { loadTrust, type LoadedTrust } from './trust-material.js';
import type { TrustSource } from './gatherer.js';
import { failureChainText } from '../text/network-failure.js';

const REFRESH_EVERY_MS = 24 * 3_600_000;
const FETCH_TIMEOUT_MS = 15_000;

/**
 * The public-good trusted root, kept current through Sigstore's TUF repository when the network allows.
 * Start-up never waits for the network: it uses the last root TUF delivered (kept under `cacheDir`), or the
 * copy shipped in the package. Refreshes run in the background, daily, and only while some rule needs the
 * root (a keyless or transparency-log requirement), so a key-only or air-gapped deployment never calls out.
 * The verify path itself never touches the network. A private trusted_root.json is used as configured.
 */
export class RefreshingTrust implements TrustSource {
  private loaded: LoadedTrust;
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Immediate | undefined;
  private stopped = false;
  private readonly rootFile: string;

  constructor(
    private readonly config: TrustConfig,
    private readonly cacheDir: string,
    private readonly log: Logger,
    private readonly needsRoot: () => boolean,
  ) {
    this.rootFile = join(cacheDir, 'trusted_root.json');
    this.loaded = loadTrust(config);
    if (config.trustedRoot === 'public-good') {
      try {
        this.loaded = loadTrust(config, readFileSync(this.rootFile));
        log.info('using the public-good trusted root last fetched through TUF', { file: this.rootFile });
      } catch {
        // No usable refreshed root yet: the shipped copy stands.
      }
    }
  }

  current(): LoadedTrust {
    return this.loaded;
  }

  /** Called after a refresh wrote a new root, so sibling workers can reload it. */
  onRefreshed?: () => void;

  /** Reads the refreshed root another process wrote (a sibling worker's refresh). */
  reload(): void {
    if (this.config.trustedRoot !== 'public-good') return;
    try {
      const next = loadTrust(this.config, readFileSync(this.rootFile));
      if (next.fingerprint !== this.loaded.fingerprint) this.loaded = next;
    } catch (err) {
      this.log.warn('could not reload the refreshed trusted root; keeping the current one', { error: String(err) });
    }
  }

  start(): void {
    if (this.config.trustedRoot !== 'public-good') return;
    const run = () => void this.refresh();
    this.first = setImmediate(run);
    this.timer = setInterval(run, REFRESH_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.first) clearImmediate(this.first);
    if (this.timer) clearInterval(this.timer);
  }

  /** Fetches the root through TUF (signed, versioned metadata); keeps the current root on any failure. */
  async refresh(): Promise<boolean> {
    if (this.stopped || this.config.trustedRoot !== 'public-good') return false;
    try {
      if (!this.needsRoot()) return false;
      const [{ getTrustedRoot }, { TrustedRoot }] = await Promise.all([import('@sigstore/tuf'), import('@sigstore/protobuf-specs')]);
      mkdirSync(this.cacheDir, { recursive: true });
      const root = await getTrustedRoot({ cachePath: join(this.cacheDir, 'tuf'), retry: 1, timeout: FETCH_TIMEOUT_MS });
      if (this.stopped) return false;
      const bytes = Buffer.from(JSON.stringify(TrustedRoot.toJSON(root)));
      const next = loadTrust(this.config, bytes);
      if (next.fingerprint !== this.loaded.fingerprint) {
        writeFileSync(`${this.rootFile}.tmp`, bytes);
        renameSync(`${this.rootFile}.tmp`, this.rootFile);
        this.loaded = next;
        this.log.info('public-good trusted root refreshed through TUF', { fingerprint: next.fingerprint });
        this.onRefreshed?.();
      }
      return true;
    } catch (err) {
      this.log.warn('could not refresh the public-good trusted root; keeping the current one', {
        error: failureChainText(err),
      });
      return false;
    }
  }
}
