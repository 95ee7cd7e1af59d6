import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditEvent } from '../audit/types.js';

/** The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'portcullis-signature';
export const CLOUDEVENTS_JSON = 'application/cloudevents+json; charset=utf-8';

/**
 * One audit event as a CloudEvents 1.0 event in structured mode. Its id is the audit event's id, the same on
 * every retry and from every replica, so a receiver drops duplicates by it.
 */
export function cloudEvent(event: AuditEvent): Record<string, unknown> {
  const subject = event.repository ? `${event.repository}${event.digest ? `@${event.digest}` : event.reference ? `:${event.reference}` : ''}` : undefined;
  return {
    specversion: '1.0',
    id: String(event.id),
    source: '/portcullis/audit',
    type: `dev.portcullis.audit.${event.kind}`,
    time: event.time,
    ...(subject ? { subject } : {}),
    datacontenttype: 'application/json',
    data: event,
  };
}

/** The signature header's value for `body` sent at `unixSeconds`. */
export function sign(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.`).update(body).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * What a receiver does (documented in the README, used by the tests): recompute the HMAC over `<t>.<body>`,
 * compare in constant time, and refuse a timestamp older than `toleranceSeconds` (a replay).
 */
export function verifySignature(secret: string, body: string, header: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const parts = new Map(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const given = parts.get('v1') ?? '';
  if (!Number.isSafeInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(given)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}
