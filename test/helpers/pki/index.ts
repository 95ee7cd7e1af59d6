import { createTestCtLog, type TestCtLog } from './ct-log.js';
import { createTestFulcio, type TestFulcio } from './fulcio.js';
import { createTestRekor, type TestRekor } from './rekor.js';
import { buildTrustedRoot, writeTrustedRootFile } from './trusted-root.js';
import { createTestTsa, type TestTsa } from './tsa.js';

export * from './cosign-bundle.js';
export * from './cosign-legacy.js';
export * from './ct-log.js';
export * from './dsse.js';
export * from './fulcio.js';
export * from './keys.js';
export * from './legacy-bundle.js';
export * from './oci.js';
export * from './payloads.js';
export * from './rekor.js';
export * from './rekor-v2.js';
export * from './signer.js';
export * from './trusted-root.js';
export * from './tsa.js';
export { OID } from './x509.js';
export * from './sigstore-check.js';

/** A complete offline Sigstore: trusted CA + CT log + Rekor, and an untrusted twin of each. */
export interface TestPki {
  readonly fulcio: TestFulcio;
  readonly ctLog: TestCtLog;
  readonly rekor: TestRekor;
  /** Same kinds of services, never listed in the trusted root (for negative tests). */
  readonly untrusted: { readonly fulcio: TestFulcio; readonly ctLog: TestCtLog; readonly rekor: TestRekor; readonly tsa: TestTsa };
  /**
   * A second instance shaped like GitHub's: a CA whose certificates carry no SCT, no transparency log, and a
   * timestamp authority; its own trusted root lists only the CA and the TSA.
   */
  readonly githubLike: SecondInstance;
  /** trusted_root.json content listing fulcio, ctLog and rekor only. */
  trustedRoot(): Record<string, unknown>;
  /** Writes `<dir>/trusted_root.json`; returns the file path. */
  writeTrustedRoot(dir: string): Promise<string>;
}

export interface SecondInstance {
  readonly fulcio: TestFulcio;
  readonly tsa: TestTsa;
  trustedRoot(): Record<string, unknown>;
  /** Writes `<dir>/<file>` (default github_trusted_root.json); returns the file path. */
  writeTrustedRoot(dir: string, file?: string): Promise<string>;
}

export function createTestPki(): TestPki {
  const ctLog = createTestCtLog();
  const fulcio = createTestFulcio({ ctLog });
  const rekor = createTestRekor();
  const untrustedCt = createTestCtLog({ baseUrl: 'https://ctfe.untrusted.test/test' });
  const untrusted = {
    ctLog: untrustedCt,
    fulcio: createTestFulcio({ ctLog: untrustedCt }),
    rekor: createTestRekor({ hostname: 'rekor.untrusted.test' }),
    tsa: createTestTsa({ commonName: 'untrusted-tsa' }),
  };
  // Its CA still needs a CT log object to construct; certificates are issued with `sct: 'none'`.
  const second = { fulcio: [createTestFulcio()], rekor: [], ctLogs: [], tsas: [createTestTsa()] };
  const parts = { fulcio: [fulcio], rekor: [rekor], ctLogs: [ctLog] };
  return {
    fulcio,
    ctLog,
    rekor,
    untrusted,
    trustedRoot: () => buildTrustedRoot(parts),
    writeTrustedRoot: (dir) => writeTrustedRootFile(dir, parts),
    githubLike: {
      fulcio: second.fulcio[0]!,
      tsa: second.tsas[0]!,
      trustedRoot: () => buildTrustedRoot(second),
      writeTrustedRoot: (dir, file = 'github_trusted_root.json') => writeTrustedRootFile(dir, second, file),
    },
  };
}

export async function writeTrustedRoot(dir: string, pki: TestPki): Promise<string> {
  return pki.writeTrustedRoot(dir);
}
