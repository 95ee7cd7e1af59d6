import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AuditStore } from '../db/types.js';
import { parseCheckpoints } from './checkpoint.js';
import { verifyChain, type ChainReport } from './verify-chain.js';

export interface CheckpointedReport extends ChainReport {
  /** Checkpoints that could not be used (bad signature, another key, malformed): each fails the check. */
  checkpointErrors?: string[];
}

/**
 * Verifies the chain and holds it against signed checkpoints (the text of a checkpoint file or log stream,
 * or parsed JSON values). A checkpoint that does not verify with `key` fails the check: a forged or damaged
 * checkpoint must not pass for a missing one. With `requireOne`, input holding no checkpoint fails too.
 */
export async function verifyWithCheckpoints(
  store: AuditStore,
  input: string | readonly unknown[],
  key: KeyObject,
  opts: { requireOne?: boolean } = {},
): Promise<CheckpointedReport> {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const { checkpoints, errors } = parseCheckpoints(input, publicKey);
  const report = await verifyChain(store, { checkpoints });
  if (opts.requireOne && checkpoints.length === 0 && errors.length === 0) errors.push('no signed checkpoint was given');
  if (errors.length === 0) return report;
  return { ...report, ok: false, reason: report.reason ?? `checkpoint ${errors[0]}`, checkpointErrors: errors };
}

/** The checkpoint file's text; empty when it does not exist yet (no checkpoint written so far). */
export async function readCheckpointFile(path: string): Promise<string> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
}
