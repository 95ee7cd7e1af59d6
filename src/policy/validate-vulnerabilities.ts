import { DURATION_MESSAGE, parseDuration } from '../text/duration.js';
import { didYouMean } from '../text/did-you-mean.js';

type Err = (path: string, message: string) => void;
type CheckSigners = (list: unknown, at: string, err: Err) => void;

const SEVERITIES = ['critical', 'high', 'medium', 'low'];
/** CVE-2024-3094, GHSA-xxxx-xxxx-xxxx, and the other advisory ids scanners report (GO-…, RUSTSEC-…, ALAS-…). */
export const VULNERABILITY_ID = /^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9._:-]{1,120}$/;

/** Checks a rule's `vulnerabilities` block; `signers` checks a signedBy.anyOf list as the other blocks do. */
export function validateVulnerabilities(value: unknown, at: string, err: Err, signers: CheckSigners): void {
  if (!isObject(value)) return err(at, 'must be an object with scans');
  known(value, ['scans', 'vex', 'deny', 'gracePeriod'], at, err);
  if (!isObject(value.scans)) err(`${at}.scans`, 'must be an object with signedBy (and maxAge)');
  else {
    known(value.scans, ['signedBy', 'maxAge'], `${at}.scans`, err);
    signedBy(value.scans.signedBy, `${at}.scans.signedBy`, err, signers);
    duration(value.scans.maxAge, `${at}.scans.maxAge`, err);
  }
  if (value.vex !== undefined) {
    if (!isObject(value.vex)) err(`${at}.vex`, 'must be an object with signedBy');
    else {
      known(value.vex, ['signedBy'], `${at}.vex`, err);
      signedBy(value.vex.signedBy, `${at}.vex.signedBy`, err, signers);
    }
  }
  if (value.deny !== undefined) {
    const d = value.deny;
    if (!isObject(d)) err(`${at}.deny`, 'must be an object');
    else {
      known(d, ['severity', 'fixableOnly', 'ids', 'knownExploited'], `${at}.deny`, err);
      if (d.severity !== undefined && !SEVERITIES.includes(d.severity as string)) err(`${at}.deny.severity`, `must be one of ${SEVERITIES.join(', ')}`);
      for (const k of ['fixableOnly', 'knownExploited']) if (d[k] !== undefined && typeof d[k] !== 'boolean') err(`${at}.deny.${k}`, 'must be true or false');
      if (d.ids !== undefined) {
        if (!Array.isArray(d.ids)) err(`${at}.deny.ids`, 'must be an array of vulnerability ids');
        else d.ids.forEach((id, i) => {
          if (typeof id !== 'string' || !VULNERABILITY_ID.test(id)) err(`${at}.deny.ids[${i}]`, 'must be a vulnerability id such as CVE-2024-3094 or GHSA-…');
        });
      }
    }
  }
  duration(value.gracePeriod, `${at}.gracePeriod`, err);
}

function signedBy(value: unknown, at: string, err: Err, signers: CheckSigners): void {
  if (!isObject(value)) return err(at, 'must be an object with anyOf');
  known(value, ['anyOf'], at, err);
  signers(value.anyOf, `${at}.anyOf`, err);
}

function duration(value: unknown, at: string, err: Err): void {
  if (value !== undefined && (typeof value !== 'string' || parseDuration(value) === undefined)) err(at, DURATION_MESSAGE);
}

function known(obj: Record<string, unknown>, allowed: string[], at: string, err: Err): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) err(`${at}.${k}`, `unknown field${didYouMean(k, allowed, (a) => `${at}.${a}`)}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
