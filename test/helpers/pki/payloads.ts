/** Signed payloads: cosign simple signing, in-toto statements and SLSA provenance predicates. */

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
export const SLSA_V02 = 'https://slsa.dev/provenance/v0.2';
export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
export const STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

/** Exact bytes cosign writes (Go struct field order, no whitespace). */
export function simpleSigningPayload(repository: string, digest: string, optional?: Record<string, string> | null): Buffer {
  const payload = {
    critical: {
      identity: { 'docker-reference': repository },
      image: { 'docker-manifest-digest': digest },
      type: SIMPLE_SIGNING_TYPE,
    },
    optional: optional ?? null,
  };
  return Buffer.from(JSON.stringify(payload));
}

export interface StatementOptions {
  /** `sha256:<hex>` or bare hex. */
  subjectDigest: string;
  subjectName?: string;
  predicateType: string;
  predicate: unknown;
  statementType?: typeof STATEMENT_V01 | typeof STATEMENT_V1;
}

export function inTotoStatement(opts: StatementOptions): Buffer {
  const hex = opts.subjectDigest.replace(/^sha256:/, '');
  return Buffer.from(
    JSON.stringify({
      _type: opts.statementType ?? STATEMENT_V1,
      subject: [{ name: opts.subjectName ?? 'image', digest: { sha256: hex } }],
      predicateType: opts.predicateType,
      predicate: opts.predicate,
    }),
  );
}

export interface ProvenanceOptions {
  version?: 'v0.2' | 'v1';
  /** Default: the SLSA GitHub generator's container workflow. */
  builderId?: string;
  /** Source repository URL without `git+` or ref, e.g. https://github.com/acme/app. */
  sourceRepository?: string;
  /** Default refs/heads/main. */
  sourceRef?: string;
  /** 40-hex commit. */
  sourceCommit?: string;
  finishedOn?: Date;
}

export const DEFAULT_BUILDER_ID =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0';

/** predicateType and predicate for SLSA provenance v0.2 or v1 with the policy-relevant fields filled. */
export function slsaProvenance(opts: ProvenanceOptions = {}): { predicateType: string; predicate: unknown } {
  const builderId = opts.builderId ?? DEFAULT_BUILDER_ID;
  const repo = opts.sourceRepository ?? 'https://github.com/acme/app';
  const ref = opts.sourceRef ?? 'refs/heads/main';
  const commit = opts.sourceCommit ?? '0123456789abcdef0123456789abcdef01234567';
  const finished = opts.finishedOn ?? new Date();
  const started = new Date(finished.getTime() - 5 * 60_000);
  const workflowPath = '.github/workflows/release.yml';
  if ((opts.version ?? 'v1') === 'v0.2') {
    return {
      predicateType: SLSA_V02,
      predicate: {
        builder: { id: builderId },
        buildType: 'https://github.com/slsa-framework/slsa-github-generator/container@v1',
        invocation: {
          configSource: { uri: `git+${repo}@${ref}`, digest: { sha1: commit }, entryPoint: workflowPath },
          parameters: {},
          environment: { github_ref: ref, github_event_name: 'push', github_sha1: commit },
        },
        metadata: {
          buildInvocationID: `${commit}-1`,
          buildStartedOn: started.toISOString(),
          buildFinishedOn: finished.toISOString(),
          completeness: { parameters: true, environment: false, materials: false },
          reproducible: false,
        },
        materials: [{ uri: `git+${repo}@${ref}`, digest: { sha1: commit } }],
      },
    };
  }
  return {
    predicateType: SLSA_V1,
    predicate: {
      buildDefinition: {
        buildType: 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1',
        externalParameters: { workflow: { repository: repo, ref, path: workflowPath } },
        internalParameters: { github: { event_name: 'push' } },
        resolvedDependencies: [{ uri: `git+${repo}@${ref}`, digest: { gitCommit: commit } }],
      },
      runDetails: {
        builder: { id: builderId },
        metadata: {
          invocationId: `${repo}/actions/runs/1/attempts/1`,
          startedOn: started.toISOString(),
          finishedOn: finished.toISOString(),
        },
      },
    },
  };
}
