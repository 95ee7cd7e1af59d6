import { globMatches } from '../policy/match.js';
import type { ListingService } from '../pull/listing-service.js';
import type { RequestInfo } from '../pull/pull-service.js';
import { semverRange } from '../text/semver-range.js';
import type { Target } from '../upstream/target.js';

/** Tag-list pages followed per repository, so a repository with endless tags cannot hold a run. */
const MAX_PAGES = 50;

/** Which tags a list entry picks: tags matching any glob (if given) and within the range (if given). */
export function tagPicker(entry: { tags?: readonly string[]; semver?: string }): (tag: string) => boolean {
  const range = entry.semver === undefined ? undefined : semverRange(entry.semver);
  return (tag) =>
    // cosign's artifact tags (sha256-<hex>.sig) are fetched with their image, never as images.
    !/^sha256-[0-9a-f]{64}/.test(tag) &&
    (entry.tags === undefined || entry.tags.some((glob) => globMatches(glob, tag))) &&
    (range === undefined || range.test(tag));
}

/** The upstream's tags of `target` that `pick` accepts, sorted; tag listing honours deny rules as for any client. */
export async function selectTags(listing: ListingService, req: RequestInfo, target: Target, pick: (tag: string) => boolean): Promise<string[]> {
  const picked = new Set<string>();
  let last: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const list = await listing.tags(req, target, undefined, last, target.canonical);
    for (const tag of list.body.tags) if (pick(tag)) picked.add(tag);
    if (!list.next) break;
    last = list.next.last;
  }
  return [...picked].sort();
}
