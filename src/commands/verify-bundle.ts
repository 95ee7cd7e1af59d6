import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TrustConfig } from '../config/types.js';
import { loadConfigFile } from '../config/load.js';
import { checkFlags } from './audit-flags.js';
import { checkBundle, type BundleArtifact, type ExpectedSigner } from './bundle-check.js';
import { EXIT, UsageError, type Command, type ParsedArgs } from './command.js';
import { configFile } from './config-path.js';

/** The trust section the proxy uses when no config file names one: the public-good root shipped with it. */
const BUILT_IN_TRUST: TrustConfig = { trustedRoot: 'public-good', keys: {}, verifyTtlMs: 0 };

export const verifyBundleCommand: Command = {
  name: 'verify-bundle',
  summary: 'verify one Sigstore bundle offline, as the proxy would',
  booleanFlags: ['staging'],
  usage: `portcullis verify-bundle --bundle FILE (--certificate-identity ID --certificate-oidc-issuer ISSUER | --key FILE)
                          [--trusted-root FILE] [--config FILE] ARTIFACT_PATH|sha256:HEX

Verifies the Sigstore bundle FILE about an artifact (a file, or its digest as sha256:<64 hex>; for a DSSE
bundle, a subject of its in-toto statement) with the verifier and trust roots the proxy uses for referrer
bundles, without the proxy running and without the network. The signer must be the certificate identity
and OIDC issuer given (both exact), or the holder of the PEM public key --key names.

Trust: the roots of the config file (--config FILE, else PORTCULLIS_CONFIG, else ./portcullis.json or
/etc/portcullis/config.json; without any, the public-good root shipped with portcullis); --trusted-root FILE
replaces them with that one trusted_root.json. The options are those of the sigstore-conformance client
protocol; --staging is refused (pass the staging trusted_root.json as --trusted-root).

Exits 0 when the bundle verifies (printing its signer), ${EXIT.denied} when it does not (printing the reason), ${EXIT.usage}
for bad options or trust material that does not load.`,
  async run(args) {
    checkFlags(args, ['bundle', 'certificate-identity', 'certificate-oidc-issuer', 'key', 'trusted-root', 'config', 'staging'], 1);
    if (args.flags.staging) throw new UsageError('--staging: no staging root ships with portcullis; pass the staging trusted_root.json as --trusted-root');
    const target = args.positional[0];
    if (!target) throw new UsageError('ARTIFACT_PATH or sha256:HEX is required');
    const verdict = checkBundle({
      bundle: readInput(flag(args, 'bundle', true)!, '--bundle'),
      artifact: artifactOf(target),
      signer: expectedSigner(args),
      trust: trustOf(args),
    });
    if (!verdict.verified) {
      process.stderr.write(`portcullis: the bundle does not verify: ${verdict.reason}\n`);
      return EXIT.denied;
    }
    process.stdout.write(`verified: signed by ${verdict.signers.join(', ')}\n`);
    return EXIT.ok;
  },
};

function flag(args: ParsedArgs, name: string, required = false): string | undefined {
  const v = args.flags[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

function expectedSigner(args: ParsedArgs): ExpectedSigner {
  const key = flag(args, 'key');
  const identity = flag(args, 'certificate-identity');
  const issuer = flag(args, 'certificate-oidc-issuer');
  if (key !== undefined) {
    if (identity !== undefined || issuer !== undefined) throw new UsageError('give --key or --certificate-identity with --certificate-oidc-issuer, not both');
    return { keyPem: readInput(key, '--key').toString('utf8') };
  }
  if (identity === undefined || issuer === undefined) {
    throw new UsageError('give --certificate-identity and --certificate-oidc-issuer, or --key');
  }
  return { identity, issuer };
}

/**
 * As the protocol says: `sha256:` and 64 hex digits that are not a path on disk are a digest; anything
 * else is a file.
 */
function artifactOf(target: string): BundleArtifact {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(target);
  if (m && !existsSync(target)) return { sha256: m[1]!.toLowerCase() };
  return { bytes: readInput(target, 'the artifact') };
}

function trustOf(args: ParsedArgs): TrustConfig {
  const rootFile = flag(args, 'trusted-root');
  const base = configuredTrust(args);
  if (rootFile === undefined) return base;
  return { ...base, trustedRoot: resolve(rootFile), roots: undefined };
}

function configuredTrust(args: ParsedArgs): TrustConfig {
  let file: string;
  try {
    file = configFile(args);
  } catch (err) {
    // Only "no config file anywhere" falls back to the built-in root; a named file that is missing is an error.
    if (args.flags.config === undefined && !process.env.PORTCULLIS_CONFIG) return BUILT_IN_TRUST;
    throw err;
  }
  return loadConfigFile(file).trust;
}

function readInput(path: string, label: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read ${label} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
