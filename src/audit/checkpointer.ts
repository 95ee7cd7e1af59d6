import { createPublicKey, type KeyObject } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import type { AuditStore } from '../db/types.js';
import type { Logger } from '../logger.js';
import { rowHash } from './chain.js';
import { keyIdOf, parseCheckpoints, signCheckpoint, type Checkpoint } from './checkpoint.js';
import { verifyChain } from './verify-chain.js';
import type { ChainOutcome } from './chain-alarm.js';

export interface CheckpointSettings {
  key: KeyObject;
  /** Appended to, one checkpoint a line, when set. */
  file?: string;
  everyMs: number;
  everyEvents: number;
}

/** How often the writer looks at the log's length (events are counted between looks). */
const LOOK_MS = 1000;

/**
 * Writes a signed checkpoint of the audit log's head to the log stream (`msg: "audit.checkpoint"`) and to
 * the checkpoint file, every `everyMs` or every `everyEvents` events, whichever comes first, and once more
 * on stop. Only one process writes them (the upkeep process). It never signs a head it cannot vouch for:
 * before the first checkpoint it verifies the whole chain (and that the log still holds the last checkpoint
 * in the file), and before each later one that the new events chain onto the head it signed last.
 */
export class Checkpointer {
  private timer: NodeJS.Timeout | undefined;
  private last: { lastId: number; head: string; at: number } | undefined;
  private trusted = false;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: AuditStore,
    private readonly settings: CheckpointSettings,
    private readonly log: Logger,
    /** Told whether the whole chain held (checked before the first checkpoint), or that it broke since. */
    private readonly onVerified: (outcome: ChainOutcome) => void = () => {},
  ) {}

  start(): this {
    this.timer = setInterval(() => void this.tick(false), Math.min(LOOK_MS, this.settings.everyMs));
    this.timer.unref();
    void this.tick(false);
    return this;
  }

  /** Writes a last checkpoint of what is committed now, then stops. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    if (!this.stopped) await this.tick(true);
    this.stopped = true;
  }

  /** One look: sign a checkpoint when enough time or enough events have passed. */
  tick(force: boolean): Promise<void> {
    if (this.running || this.stopped) return this.running ?? Promise.resolve();
    this.running = this.run(force)
      .catch((err: unknown) => this.log.error('audit checkpoint failed', { error: String(err) }))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(force: boolean): Promise<void> {
    const newest = await this.store.maxId();
    if (newest === 0) return;
    const last = this.last;
    if (last && newest <= last.lastId) return;
    const due = !last || force || Date.now() - last.at >= this.settings.everyMs || newest - last.lastId >= this.settings.everyEvents;
    if (!due) return;
    if (!this.trusted && !(await this.trustLog())) return;
    const head = await this.chainFrom(newest);
    if (!head) return;
    const checkpoint = signCheckpoint(this.settings.key, { lastId: newest, count: await this.store.count(), head, time: new Date().toISOString() });
    await this.write(checkpoint);
    this.last = { lastId: newest, head, at: Date.now() };
  }

  /**
   * Verifies the whole chain (against the file's checkpoints by this key, if any) before the first
   * checkpoint: signing a log that was already cut or rewritten would vouch for the tampering.
   */
  private async trustLog(): Promise<boolean> {
    let checkpoints: Checkpoint[] = [];
    if (this.settings.file) {
      const text = await readFile(this.settings.file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
      checkpoints = parseCheckpoints(text, createPublicKey(this.settings.key)).checkpoints;
    }
    const report = await verifyChain(this.store, { checkpoints });
    this.onVerified({ firstBroken: report.firstBroken, reason: report.reason });
    if (!report.ok) {
      this.log.error('audit log does not verify; no checkpoint written', { firstBroken: report.firstBroken, reason: report.reason });
      this.stopped = true;
      return false;
    }
    this.trusted = true;
    return true;
  }

  /** The hash of event `upto`, once the events since the last checkpoint are checked to chain onto it. */
  private async chainFrom(upto: number): Promise<string | undefined> {
    const from = this.last;
    let afterId = from ? from.lastId - 1 : upto - 1;
    let prev: string | undefined;
    for (;;) {
      const rows = await this.store.rows({}, afterId, upto, 2000);
      for (const row of rows) {
        const { hash, prev_hash: p, ...content } = row;
        const fine = row.id === afterId + 1 && rowHash(p, content) === hash && (prev === undefined || p === prev) && (row.id !== from?.lastId || hash === from.head);
        if (!fine) {
          this.log.error('audit log changed since the last checkpoint; no checkpoint written', { event: row.id, lastCheckpoint: from?.lastId });
          this.onVerified({ firstBroken: row.id, reason: 'it changed since the last checkpoint' });
          this.stopped = true;
          return undefined;
        }
        prev = hash;
        afterId = row.id;
      }
      if (afterId >= upto || rows.length === 0) break;
    }
    return afterId === upto ? prev : undefined;
  }

  private async write(checkpoint: Checkpoint): Promise<void> {
    this.log.info('audit.checkpoint', { checkpoint });
    if (!this.settings.file) return;
    const handle = await open(this.settings.file, 'a', 0o640);
    try {
      await handle.write(`${JSON.stringify(checkpoint)}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}

/** The key id, for the start-up log line: operators record it to know which key verifies the checkpoints. */
export function checkpointKeyId(key: KeyObject): string {
  return keyIdOf(createPublicKey(key));
}
