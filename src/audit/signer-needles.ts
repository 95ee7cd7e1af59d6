import { signerNeedles } from '../db/types.js';
import { describeSigner } from '../policy/signer-match.js';

/** A signer as the audit log is asked about it (a revocation names one the same way). */
export type AskedSigner =
  | { key: string }
  | { keyless: { issuer?: string; subject: string } }
  | { notation: { fingerprint: string } }
  | { logIndex: number };

/**
 * Every text by which an event's evidence names the signer, whole (never as part of a longer name): the
 * summary's signer objects and its complete `signers` list (`signerNeedles`), and how the vulnerability
 * evidence names the signer of a judged scan or of a VEX statement that suppressed a finding
 * (`"signer":"key \"acme-scanner\""`), which events recorded before that list do not otherwise name.
 */
export function evidenceNeedles(signer: AskedSigner): string[] {
  if ('key' in signer) return [...signerNeedles({ key: signer.key }), ...describedNeedles(signer)];
  if ('keyless' in signer) return [...signerNeedles(signer.keyless), ...describedNeedles(signer)];
  if ('notation' in signer) return signerNeedles(signer.notation);
  return signerNeedles({ logIndex: signer.logIndex });
}

/** The needles of every signer a free-text `signer` (with an optional keyless `issuer`) may name. */
export function askedSignerNeedles(value: string, issuer: string | undefined): string[] {
  const fingerprint = value.replace(/:/g, '').toLowerCase();
  return [
    ...new Set([
      ...evidenceNeedles({ key: value }),
      ...evidenceNeedles({ keyless: { subject: value, ...(issuer !== undefined && { issuer }) } }),
      // A Notation signer by its signing certificate's SHA-256 fingerprint (its subject DN is a keyless subject's needle).
      ...evidenceNeedles({ notation: { fingerprint } }),
    ]),
  ];
}

function describedNeedles(signer: { key: string } | { keyless: { issuer?: string; subject: string } }): string[] {
  const j = JSON.stringify;
  if ('key' in signer) return [`"signer":${j(describeSigner({ type: 'key', key: signer.key }))}`];
  const { subject, issuer } = signer.keyless;
  if (issuer === undefined) return [`"signer":${j(`${subject} (issuer `).slice(0, -1)}`];
  const id = j(describeSigner({ type: 'keyless', subject, issuer, roots: [], extensions: {} }));
  // `subject (issuer I)`, or `subject (issuer I, root R)` when it chained to another root.
  return [`"signer":${id}`, `"signer":${id.slice(0, -2)}, root `];
}
