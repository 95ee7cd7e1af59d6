import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * A signed statement of the audit log's length and head: "events 1..lastId exist, and event lastId has hash
 * `head`". Kept outside the database (a file shipped off the machine, the log stream), it proves later that
 * the log still holds every event up to it: a log cut short, or rewritten before it (even with every hash
 * recomputed), no longer has event `lastId` with that hash. Verifying needs only the public key.
 */
export interface Checkpoint {
  type: typeof CHECKPOINT_TYPE;
  version: 1;
  /** Id of the newest event covered; ids run from 1 without gaps, so this is every event ever appended to it. */
  lastId: number;
  /** Events held in the log when it was signed (fewer than `lastId` once retention pruned old ones). */
  count: number;
  /** Hash of event `lastId`. */
  head: string;
  /** When it was signed, ISO 8601 UTC. */
  time: string;
  /** `sha256:` and the hex SHA-256 of the public key's DER (SPKI). */
  keyId: string;
  /** The public key, PEM (SPKI), so anyone can check the signature; trust it only if `keyId` is the one you expect. */
  publicKey: string;
  /** Base64 Ed25519 signature over `checkpointPayload(...)`. */
  signature: string;
}

export const CHECKPOINT_TYPE = 'portcullis.audit.checkpoint';

type Signed = Pick<Checkpoint, 'lastId' | 'count' | 'head' | 'time' | 'keyId'>;

/** The exact bytes signed: a domain tag, then the signed fields as a JSON array. */
export function checkpointPayload(c: Signed): Buffer {
  return Buffer.from(`${CHECKPOINT_TYPE}.v1\n${JSON.stringify([c.lastId, c.count, c.head, c.time, c.keyId])}`);
}

export function keyIdOf(publicKey: KeyObject): string {
  return `sha256:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

/** Reads an Ed25519 private key (PEM); throws with a message for people when it is anything else. */
export function loadSigningKey(pem: string | Buffer): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`must be an Ed25519 private key (this one is ${key.asymmetricKeyType ?? 'not asymmetric'})`);
  return key;
}

/** Reads an Ed25519 public key, or derives it from a private key (PEM). */
export function loadVerifyKey(pem: string | Buffer): KeyObject {
  const text = pem.toString();
  const key = /PRIVATE KEY/.test(text) ? createPublicKey(createPrivateKey(text)) : createPublicKey(text);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`must be an Ed25519 key (this one is ${key.asymmetricKeyType ?? 'not asymmetric'})`);
  return key;
}

export function signCheckpoint(privateKey: KeyObject, fields: Omit<Signed, 'keyId'>): Checkpoint {
  const publicKey = createPublicKey(privateKey);
  const signed: Signed = { ...fields, keyId: keyIdOf(publicKey) };
  return {
    type: CHECKPOINT_TYPE,
    version: 1,
    ...signed,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    signature: sign(null, checkpointPayload(signed), privateKey).toString('base64'),
  };
}

export interface ParsedCheckpoints {
  /** Checkpoints whose signature verifies with the trusted key, in the order given. */
  checkpoints: Checkpoint[];
  /** Why a checkpoint was refused (bad signature, another key, malformed), with its line number. */
  errors: string[];
}

/**
 * Reads checkpoints from a checkpoint file or a log stream (one JSON object a line: a checkpoint itself, or
 * a log record carrying one in `checkpoint`); other lines are skipped. Every checkpoint must be signed by
 * `trusted`: one that is not is an error, never silently dropped.
 */
export function parseCheckpoints(input: string | readonly unknown[], trusted: KeyObject): ParsedCheckpoints {
  const items: Array<{ where: string; value: unknown }> = typeof input === 'string'
    ? input.split('\n').flatMap((line, i) => {
        if (line.trim() === '') return [];
        try {
          return [{ where: `line ${i + 1}`, value: JSON.parse(line) as unknown }];
        } catch {
          return [];
        }
      })
    : input.map((value, i) => ({ where: `checkpoints[${i}]`, value }));
  const keyId = keyIdOf(trusted);
  const out: ParsedCheckpoints = { checkpoints: [], errors: [] };
  for (const { where, value } of items) {
    const o = value as Record<string, unknown> | null;
    const c = (o && typeof o === 'object' && o.type === CHECKPOINT_TYPE ? o : (o?.checkpoint as Record<string, unknown> | undefined)) ?? undefined;
    if (!c || typeof c !== 'object' || c.type !== CHECKPOINT_TYPE) {
      if (typeof input !== 'string') out.errors.push(`${where}: not a checkpoint`);
      continue;
    }
    const problem = checkShape(c);
    if (problem) {
      out.errors.push(`${where}: ${problem}`);
      continue;
    }
    const cp = c as unknown as Checkpoint;
    if (cp.keyId !== keyId) {
      out.errors.push(`${where}: signed by key ${cp.keyId}, not the trusted key ${keyId}`);
      continue;
    }
    if (!verify(null, checkpointPayload(cp), trusted, Buffer.from(cp.signature, 'base64'))) {
      out.errors.push(`${where}: the signature of the checkpoint up to event ${cp.lastId} does not verify`);
      continue;
    }
    out.checkpoints.push(cp);
  }
  return out;
}

function checkShape(c: Record<string, unknown>): string | undefined {
  if (c.version !== 1) return 'unknown checkpoint version';
  if (!Number.isSafeInteger(c.lastId) || (c.lastId as number) < 1) return 'lastId must be a positive integer';
  if (!Number.isSafeInteger(c.count) || (c.count as number) < 0) return 'count must be a whole number';
  if (typeof c.head !== 'string' || !/^[0-9a-f]{64}$/.test(c.head)) return 'head must be a SHA-256 hex hash';
  for (const k of ['time', 'keyId', 'signature'] as const) if (typeof c[k] !== 'string') return `${k} must be a string`;
  return undefined;
}
