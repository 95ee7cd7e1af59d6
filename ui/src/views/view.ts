import type { Identity } from '../api.js';

export interface ViewContext {
  main: HTMLElement;
  /** The query of the hash route (`#/events?decision=deny`). */
  params: URLSearchParams;
  id?: string;
  me: Identity;
  /** Aborted when the user leaves the view (streams and pending requests stop). */
  signal: AbortSignal;
}

export type View = (ctx: ViewContext) => Promise<void>;
