import { randomUUID } from 'node:crypto';
import type { PrefetchConfig, PrefetchList } from '../config/types.js';
import type { PrefetchStore } from '../db/types.js';
import type { Logger } from '../logger.js';
import type { ListingService } from '../pull/listing-service.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import { resolveImage, type ImageRequest } from './image-list.js';
import type { ImageOutcome, ImageWalker } from './image-walker.js';
import { runPrefetch, summarize, type PrefetchSummary } from './prefetch-run.js';
import { selectTags, tagPicker } from './tag-select.js';

export interface ScheduleServices {
  walker: ImageWalker;
  listing: ListingService;
  upstreams: ReadonlyMap<string, UpstreamClient>;
  defaultUpstream: string | undefined;
  store: PrefetchStore;
  log: Logger;
}

/** A stored run's result: the summary and every image's outcome. */
export type StoredRun = PrefetchSummary;

/**
 * Runs every `prefetch` list when it is due: a list is due `interval` after its last run started (kept in the
 * database, so a restart neither repeats a recent run nor skips a late one), or at once if it never ran.
 * Lists run one after another; each run is audited under `prefetch:<list>` and replaces its stored result.
 */
export class PrefetchSchedule {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly config: PrefetchConfig,
    private readonly s: ScheduleServices,
  ) {}

  start(): this {
    if (this.config.lists.length > 0) this.plan(0);
    return this;
  }

  /** Stops planning runs; a run under way stops taking new images. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Waits for the run under way, if any (tests and shutdown). */
  async idle(): Promise<void> {
    await this.running;
  }

  private plan(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runDue().catch((err: unknown) => this.s.log.error('prefetch run failed', { error: String(err) }));
      void this.running.finally(() => this.plan(this.untilNextDue()));
    }, delayMs);
    this.timer.unref();
  }

  private nextDue = new Map<string, number>();

  private untilNextDue(): number {
    const soonest = Math.min(...this.config.lists.map((l) => this.nextDue.get(l.name) ?? Date.now()));
    return Math.max(1000, soonest - Date.now());
  }

  private async runDue(): Promise<void> {
    const last = new Map((await this.s.store.lastRuns()).map((r) => [r.list, Date.parse(r.startedAt)]));
    for (const list of this.config.lists) {
      if (this.stopped) return;
      const started = last.get(list.name);
      const due = started === undefined ? 0 : started + this.config.intervalMs;
      if (due > Date.now()) {
        this.nextDue.set(list.name, due);
        continue;
      }
      await this.runList(list);
      this.nextDue.set(list.name, Date.now() + this.config.intervalMs);
    }
  }

  /** One run of one list: its tags picked from the upstream now, every image fetched whole, the result stored. */
  async runList(list: PrefetchList): Promise<StoredRun> {
    const startedAt = new Date().toISOString();
    const user = `prefetch:${list.name}`;
    const req = { requestId: randomUUID(), client: 'local', user };
    const requests: ImageRequest[] = [];
    const unresolved: ImageOutcome[] = [];
    for (const entry of list.images) {
      try {
        const { target } = resolveImage(entry.repository, this.s.upstreams, this.s.defaultUpstream);
        const tags = await selectTags(this.s.listing, req, target, tagPicker(entry));
        if (tags.length === 0) throw new Error(`no upstream tag of ${target.canonical} matches ${describe(entry)}`);
        for (const tag of tags) requests.push({ image: `${target.canonical}:${tag}`, target, ref: { kind: 'tag', tag } });
      } catch (err) {
        unresolved.push(failed(entry.repository, err));
      }
    }
    this.s.log.info('prefetch run started', { list: list.name, images: requests.length });
    const run = await runPrefetch(this.s.walker, requests, {
      user, platforms: list.platforms, referrers: list.referrers, concurrency: this.config.concurrency, shouldStop: () => this.stopped,
    });
    const result = summarize([...unresolved, ...run.outcomes]);
    if (this.stopped) return result;
    await this.s.store.saveRun({ list: list.name, startedAt, finishedAt: new Date().toISOString(), result: JSON.stringify(result) });
    const { outcomes: _outcomes, ...totals } = result;
    this.s.log.info('prefetch run finished', { list: list.name, ...totals });
    return result;
  }
}

function describe(entry: { tags?: readonly string[]; semver?: string }): string {
  return [entry.tags ? `tags ${entry.tags.join(', ')}` : '', entry.semver ? `semver "${entry.semver}"` : ''].filter(Boolean).join(' and ');
}

function failed(repository: string, err: unknown): ImageOutcome {
  const message = (err as Error).message ?? String(err);
  const refused = (err as { code?: string }).code === 'DENIED';
  return {
    image: repository, repository, reference: '', digest: null, result: refused ? 'refused' : 'failed', decision: refused ? 'deny' : null,
    rule: null, reasons: [message], manifests: 0, blobs: 0, bytes: 0, artifacts: 0,
  };
}
