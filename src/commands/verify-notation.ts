import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { satisfiesNotation } from '../policy/notation-rule.js';
import { validatePolicyRules } from '../policy/validate.js';
import { COSE_MEDIA_TYPE, JWS_MEDIA_TYPE } from '../verify/notation/headers.js';
import { loadNotationTrust } from '../verify/notation/trust-store.js';
import { verifyNotationEnvelope } from '../verify/notation/verify-envelope.js';
import { toReason } from '../verify/verify-error.js';
import { checkFlags, printJson } from './audit-flags.js';
import { EXIT, requireFlag, UsageError, type Command } from './command.js';

export const verifyNotationCommand: Command = {
  name: 'verify-notation',
  summary: 'verify one Notation signature envelope offline, as the proxy would',
  usage: `portcullis verify-notation --envelope FILE --manifest FILE --trust-store-dir DIR
                           [--trust-store ca:NAME] [--identity "x509.subject: DN" | "*"] [--tsa tsa:NAME]

Verifies a Notation (Notary Project) signature envelope (JWS or COSE, told apart by its first byte) over the
manifest in FILE, with the proxy's own verifier and a notation trust store folder, without the proxy running.
With --trust-store, --identity and --tsa it also applies them as one "notation" entry of signatures.anyOf
would (--identity defaults to "*"). Prints the signer, or the reason it is refused. Exits 0 when the
signature verifies (and meets the entry), ${EXIT.denied} when it does not.`,
  async run(args) {
    checkFlags(args, ['envelope', 'manifest', 'trust-store-dir', 'trust-store', 'identity', 'tsa']);
    const envelope = readFileSync(requireFlag(args, 'envelope'));
    const manifest = readFileSync(requireFlag(args, 'manifest'));
    const trust = loadNotationTrust(resolve(requireFlag(args, 'trust-store-dir')));
    const entry = entryFrom(args.flags);
    const subject = {
      digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
      mediaType: manifestMediaType(manifest),
      size: manifest.length,
    };
    const mediaType = envelope[0] === 0x7b ? JWS_MEDIA_TYPE : COSE_MEDIA_TYPE;
    try {
      const signer = await verifyNotationEnvelope(envelope, mediaType, subject, trust, new Date());
      if (entry && !satisfiesNotation(entry, signer)) {
        printJson({ verified: true, meetsEntry: false, signer, subject });
        return EXIT.denied;
      }
      printJson({ verified: true, ...(entry ? { meetsEntry: true } : {}), signer, subject });
      return EXIT.ok;
    } catch (err) {
      printJson({ verified: false, reason: toReason(err), subject });
      return EXIT.denied;
    }
  },
};

function entryFrom(flags: Record<string, string | true>) {
  if (flags['trust-store'] === undefined) {
    if (flags.identity !== undefined || flags.tsa !== undefined) throw new UsageError('--identity and --tsa need --trust-store');
    return undefined;
  }
  const notation = {
    trustStores: [String(flags['trust-store'])],
    trustedIdentities: [typeof flags.identity === 'string' ? flags.identity : '*'],
    ...(typeof flags.tsa === 'string' ? { tsa: [flags.tsa] } : {}),
  };
  const { errors } = validatePolicyRules([{ name: 'cli', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ notation }] } }]);
  if (errors.length) throw new UsageError(errors.map((e) => e.message).join('; '));
  return { notation };
}

function manifestMediaType(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
  } catch {
    throw new UsageError('--manifest is not a JSON manifest');
  }
  throw new UsageError('--manifest has no mediaType');
}
