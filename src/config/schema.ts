import { isIP } from 'node:net';
import { z } from 'zod';
import { parseSize } from './units.js';
import { oidcIssuerSchema } from './oidc-issuers.js';
import { offloadPrefixProblem } from './offload.js';
import { semverRangeProblem } from '../text/semver-range.js';
import { DURATION_PATTERN, durationMessage, readDuration, type DurationRange } from '../text/duration.js';
import { oidcConsoleSchema } from './oidc-console-schema.js';

/**
 * The shape of the config file: types, formats, ranges, defaults and which keys exist. What needs the whole
 * file or the outside world (environment variables, key files, names that must refer to each other, policy
 * rules) is checked in load.ts. Messages are the ones a user reads after the field's path.
 */

const required = (what: string) => (issue: { input: unknown }) => (issue.input === undefined ? 'is required' : what);

const text = () => z.string({ error: required('must be a non-empty string') }).min(1, 'must be a non-empty string');

const section = <T extends z.core.$ZodLooseShape>(shape: T) => z.strictObject(shape, { error: required('must be an object') });

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.map((v) => `"${v}"`).join(', ')}` });

const DURATION_RE = new RegExp(DURATION_PATTERN);

/** A duration in the one grammar (text/duration.ts); the pattern is published in the JSON Schema for editors. */
const duration = (range: DurationRange = {}) =>
  z
    .string({ error: durationMessage(range) })
    .regex(DURATION_RE, durationMessage(range))
    .superRefine((s, ctx) => {
      const read = readDuration(s, range);
      // Text outside the grammar is already reported by the pattern; this adds the range and the ceiling.
      if ('error' in read && DURATION_RE.test(s)) ctx.addIssue({ code: 'custom', message: read.error });
    });

const SECOND = { min: 1000 };

const wholeNumber = (message: string, min: number, max?: number) => {
  const n = z.number({ error: message }).int(message).min(min, message);
  return max === undefined ? n : n.max(max, message);
};

const PROXY_ENTRY = 'must be an IP address or a CIDR range such as "10.0.0.0/8"';

/** `192.0.2.7`, `10.0.0.0/8`, `::1`, `fd00::/8`. */
const isAddressOrRange = (s: string) => {
  const [address, prefix, extra] = s.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
};

const PLATFORM = /^[a-z0-9_-]+\/[a-z0-9_-]+(\/[a-z0-9_.-]+)?$/;

const UPSTREAM_NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/;

const upstreamUrl = z.string({ error: required('must be a non-empty string') }).superRefine((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a URL' });
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' });
  if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'must not contain credentials; use username and passwordEnv' });
});

const upstream = section({
  name: text().regex(UPSTREAM_NAME, 'must be a registry host name such as "ghcr.io"').describe('Registry host, as clients write it before the repository (e.g. "ghcr.io")'),
  url: upstreamUrl.describe('Where the registry is reached (http or https, no credentials)'),
  username: text().optional(),
  passwordEnv: text().optional().describe('Environment variable holding the password (needs username)'),
  tagTtl: duration().default('5m').describe('Tags are checked upstream again only after this long'),
  connectTimeout: duration().default('10s'),
  idleTimeout: duration().default('30s'),
  retries: wholeNumber('must be an integer from 0 to 10', 0, 10).default(2),
  metadataDeadline: duration(SECOND).default('30s').describe('The whole of a manifest, tag list or referrers request upstream, body included; then 504'),
  blobMinRate: z
    .union([z.string(), z.number()], { error: 'must be a size per second such as "16KiB"' })
    .refine((v) => parseSize(v) !== undefined, 'must be a size per second such as "16KiB"')
    .default('16KiB')
    .describe('A blob download bringing fewer bytes per second than this over a blobRateWindow is abandoned ("0" never)'),
  blobRateWindow: duration(SECOND).default('30s'),
  maxConnections: wholeNumber('must be an integer from 1 to 1024', 1, 1024).default(64).describe('Connections to this upstream'),
  maxConnectionsPerRepository: wholeNumber('must be an integer from 1 to 1024', 1, 1024).default(16).describe('Of maxConnections, how many one repository may hold at once'),
  tagDrift: oneOf(['follow', 'keep-verified', 'deny']).default('follow').describe('When a verified tag moves upstream'),
});

const checkpointEvery = z.union([
  duration(SECOND),
  wholeNumber('must be a whole number of events, at least 1', 1),
  section({
    time: duration(SECOND).optional(),
    events: wholeNumber('must be a whole number of events, at least 1', 1).optional(),
  }),
], { error: `${durationMessage(SECOND)}, a number of events, or {"time", "events"}` });

const token = section({
  name: text(),
  role: oneOf(['admin', 'auditor', 'puller']),
  tokenEnv: text().optional().describe('Environment variable holding the token'),
  tokenSha256: z.string({ error: 'must be 64 lowercase hex characters' }).regex(/^[a-f0-9]{64}$/, 'must be 64 lowercase hex characters').optional(),
});

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers a webhook may not set: the body's framing and its signature are the deliverer's. */
export const RESERVED_WEBHOOK_HEADERS = ['content-type', 'content-length', 'host', 'transfer-encoding', 'connection', 'portcullis-signature'];

/** A receiver of CloudEvents for audit events (src/notify/). */
const webhook = section({
  name: text().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be letters, digits, ".", "_" or "-" (at most 64)').optional()
    .describe('Names the webhook in the outbox, the API and metrics (default: the URL\'s host)'),
  url: upstreamUrl.describe('Where events are POSTed (http or https, no credentials); redirects are not followed'),
  events: z.array(text().regex(/^[a-z0-9.*_-]+$/, 'must be an audit event kind or a glob such as "policy.*"'), { error: required('must be an array') })
    .min(1, 'must list at least one event kind or glob').describe('Audit event kinds or globs ("*" matches any text, dots included), e.g. "pull.manifest", "policy.*"'),
  decisions: z.array(oneOf(['allow', 'deny', 'warn']), { error: 'must be an array' }).min(1, 'must list at least one decision').optional()
    .describe('Only events with one of these decisions (events that carry no decision pass)'),
  secretEnv: text().describe('Environment variable holding the HMAC-SHA256 key that signs each delivery'),
  headers: z.record(z.string().regex(HEADER_NAME, 'must be an HTTP header name'), z.string({ error: 'must be a string' }).regex(/^[^\r\n]*$/, 'must be one line'), { error: 'must be an object' })
    .refine((h) => !Object.keys(h).some((k) => RESERVED_WEBHOOK_HEADERS.includes(k.toLowerCase())), `must not set ${RESERVED_WEBHOOK_HEADERS.join(', ')}`)
    .optional().describe('Extra headers sent with each delivery'),
});

/** An S3-compatible bucket for blobs; credentials from the named environment variables or the SDK's default chain. */
const s3Storage = section({
  bucket: text().describe('Bucket holding the blobs; it must exist'),
  endpoint: z.url({ error: 'must be an http(s) URL' }).optional().describe('Endpoint URL of an S3-compatible store (default: AWS S3 of `region`)'),
  region: text().default('us-east-1').describe('Region of the bucket (the signing region for other stores)'),
  prefix: z.string({ error: 'must be a string' }).regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'must be empty or folder names each ending in "/"').default('')
    .describe('Key prefix of every object, e.g. "portcullis/"'),
  forcePathStyle: z.boolean({ error: 'must be true or false' }).default(false).describe('Address the bucket in the path (MinIO, Ceph RGW) rather than the host name'),
  accessKeyIdEnv: text().optional().describe('Environment variable holding the access key id (default: the SDK\'s credential chain)'),
  secretAccessKeyEnv: text().optional().describe('Environment variable holding the secret access key'),
  sessionTokenEnv: text().optional().describe('Environment variable holding a session token (temporary credentials)'),
  serverSideEncryption: oneOf(['AES256', 'aws:kms']).optional().describe('Encryption at rest the store applies to new objects'),
  kmsKeyId: text().optional().describe('KMS key for serverSideEncryption "aws:kms"'),
  redirect: z.boolean({ error: 'must be true or false' }).default(false)
    .describe('Answer GETs of cached, allowed blobs with a 307 to a presigned URL of the store'),
  redirectTtl: duration({ min: 1000, max: 7 * 86_400_000 }).default('5m').describe('How long a redirect\'s presigned URL is valid'),
});

/** Fields shared by the schema that validates and the one published for editors (they differ in `policies`). */
const fields = {
  $schema: z.string().optional().describe('The JSON Schema of this file, for editors'),
  listen: z
    .string({ error: 'must be a non-empty string' })
    .min(1, 'must be a non-empty string')
    .refine((s) => { const m = /^(.*):(\d{1,5})$/.exec(s); return m !== null && Number(m[2]) <= 65535; }, 'must be "host:port"')
    .default('0.0.0.0:5000'),
  tls: section({ cert: text(), key: text() }).optional().describe('PEM certificate and key paths; without it the proxy speaks plain HTTP'),
  storage: section({
    path: text().default('./data/store'),
    maxSize: z
      .union([z.string(), z.number()], { error: 'must be a size such as "20GiB"' })
      .refine((v) => parseSize(v) !== undefined, 'must be a size such as "20GiB"')
      .optional()
      .describe('Least recently used blobs are evicted above this size, e.g. "20GiB"'),
    protectRecent: duration().optional(),
    linkRetention: duration({ min: 86_400_000 }).default('30d')
      .describe('Blob links of a manifest not served for this long are removed (its next pull links them again)'),
    offload: section({
      xAccelRedirect: z
        .string({ error: required('must be an absolute URL path ending in "/", such as "/_portcullis/store/"') })
        .superRefine((s, ctx) => {
          const problem = offloadPrefixProblem(s);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .describe('URL path prefix of nginx\'s internal location aliased to storage.path, e.g. "/_portcullis/store/"'),
    }).optional().describe('Cached, allowed blobs over 1 MiB are answered with X-Accel-Redirect for nginx to send'),
    s3: s3Storage.optional().describe('Keep blobs in an S3-compatible bucket (storage.path then only holds downloads in progress)'),
  }).default({ path: './data/store', linkRetention: '30d' }),
  pull: section({
    maxLayers: wholeNumber('must be a whole number from 1 to 100000', 1, 100_000).default(1000)
      .describe('Manifests listing more layers (indexes: more manifests) are refused'),
    maxArtifactSize: z
      .union([z.string(), z.number()], { error: 'must be a size such as "16MiB"' })
      .refine((v) => parseSize(v) !== undefined, 'must be a size such as "16MiB"')
      .default('16MiB')
      .describe('Largest signature, attestation or SBOM artifact (its blobs together) that is read, proven and served under its subject\'s decision'),
    prefetchBlobs: z.boolean({ error: 'must be true or false' }).default(false)
      .describe('Once a manifest is served, its blobs the cache lacks start downloading before the client asks for them'),
  }).optional(),
  server: section({
    headersTimeout: duration({ min: 1 }).default('15s'),
    requestTimeout: duration({ min: 1 }).default('30s').describe('A request, headers and body, must have arrived within this long (responses are not limited)'),
    maxConnectionsPerClient: wholeNumber('must be a whole number from 1 to 100000', 1, 100_000).default(128).describe('Open connections one client address may hold per process (trusted proxies are not held)'),
    workers: wholeNumber('must be a whole number of worker processes from 1 to 256', 1, 256).optional().describe('Processes serving on this machine (default: the number of CPUs)'),
    trustedProxies: z.array(z.string({ error: PROXY_ENTRY }).refine(isAddressOrRange, PROXY_ENTRY), { error: 'must be an array' }).default([]).describe('Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client'),
  }).optional(),
  database: section({
    path: text().optional().describe('SQLite file (the default: ./data/portcullis.db)'),
    url: text().optional().describe('postgres:// URL'),
    urlEnv: text().optional().describe('Environment variable holding the postgres:// URL'),
  }).optional(),
  upstreams: z.array(upstream, { error: required('must be an array') }).min(1, 'must list at least one upstream'),
  defaultUpstream: text().optional().describe('Upstream used for repositories named without a registry host'),
  trust: section({
    trustedRoot: text().default('public-good'),
    roots: z.record(z.string(), z.string({ error: 'must be a path to a trusted_root.json or a .jsonl of roots' }).min(1, 'must be a path to a trusted_root.json or a .jsonl of roots'), { error: 'must be an object' }).optional(),
    keys: z.record(z.string(), z.string({ error: 'must be a PEM public key or a path to one' }).min(1, 'must be a PEM public key or a path to one'), { error: 'must be an object' }).optional(),
    verifyTtl: duration().default('1h'),
    knownExploitedFile: text().optional().describe('The CISA Known Exploited Vulnerabilities catalog (its JSON), for vulnerabilities.deny.knownExploited; read again when it changes'),
    referrers: section({
      maxCount: wholeNumber('must be an integer from 1 to 10000', 1, 10000).default(64).describe('Referrer manifests looked at per subject'),
      maxBytes: z
        .union([z.string(), z.number()], { error: 'must be a size such as "16MiB"' })
        .refine((v) => (parseSize(v) ?? 0) >= 1024, 'must be a size of at least 1KiB such as "16MiB"')
        .default('16MiB')
        .describe('Bytes read per subject: referrer lists, referrer manifests, bundles (scan and VEX bundles over 2 MiB count against maxReportBytes instead)'),
      maxReportBytes: z
        .union([z.string(), z.number()], { error: 'must be a size such as "64MiB"' })
        .refine((v) => (parseSize(v) ?? 0) >= 1024, 'must be a size of at least 1KiB such as "64MiB"')
        .default('64MiB')
        .describe('Bytes read per subject for scan and VEX bundles over 2 MiB (each up to a 32 MiB statement, about 43 MiB of bundle), read off the event loop'),
      maxPages: wholeNumber('must be an integer from 1 to 1000', 1, 1000).default(8).describe('Pages of the referrers API followed'),
      maxDepth: wholeNumber('must be an integer from 1 to 4', 1, 4).default(1).describe('1: referrers only; 2: also the manifests of a referrer that is an index'),
    }).optional().describe('Bounds of the referrers walk for one subject; a denial says which one was hit'),
    notation: section({
      trustStoreDir: text().describe('A Notation trust store folder: x509/{ca,signingAuthority,tsa}/<name>/*.crt|*.pem|*.cer'),
    }).optional().describe('Notation (Notary Project) signatures; without it they are not looked at'),
  }).optional(),
  auth: section({
    pull: oneOf(['anonymous', 'token']).default('anonymous'),
    tokens: z.array(token, { error: 'must be an array' }).default([]),
    oidc: section({
      console: oidcConsoleSchema.optional().describe('Single sign-on of people to the console and the API'),
      issuers: z.array(oidcIssuerSchema, { error: 'must be an array' }).default([]).describe('JWT issuers whose tokens (CI jobs, service accounts) are accepted as pull credentials'),
    }).optional(),
  }).optional(),
  audit: section({
    retainDays: z.number({ error: 'must be a positive number of days' }).positive('must be a positive number of days').optional(),
    liveStreamsPerIdentity: wholeNumber('must be a whole number from 1 to 50', 1, 50).default(5).describe('Live audit streams one identity may hold open per process'),
    checkpoint: section({
      key: text().describe('Ed25519 private key (PEM) that signs checkpoints'),
      file: text().optional(),
      every: checkpointEvery.optional(),
    }).optional(),
  }).optional(),
  notifications: section({
    webhooks: z.array(webhook, { error: 'must be an array' }).default([]).describe('Receivers of audit events; see [Notifications](#notifications)'),
    timeout: duration({ min: 100, max: 300_000 }).default('10s').describe('One delivery, connection to response, before it counts as failed'),
    retryBackoff: duration({ min: 100 }).default('10s').describe('Wait before the first retry; it doubles with each failure, up to an hour'),
    maxAttempts: wholeNumber('must be a whole number from 1 to 100', 1, 100).default(12).describe('Attempts before a delivery is failed (it can be retried through the API)'),
    maxPending: wholeNumber('must be a whole number from 1 to 1000000', 1, 1_000_000).default(10000).describe('Deliveries one webhook may have waiting; beyond it the oldest are failed'),
  }).optional().describe('Signed webhooks for audit events, sent from an outbox in the database'),
  log: section({ level: oneOf(['debug', 'info', 'warn', 'error']).default('info') }).optional(),
  prefetch: section({
    interval: duration({ min: 60_000 }).default('6h').describe('A list runs this long after its last run started (a list that never ran runs at start)'),
    concurrency: wholeNumber('must be a whole number from 1 to 64', 1, 64).default(2).describe('Images fetched at once, by a scheduled run or the prefetch command'),
    lists: z.array(section({
      name: z.string({ error: required('must be a name of lowercase letters, digits, ".", "_" or "-"') })
        .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a name of lowercase letters, digits, ".", "_" or "-"')
        .describe('Names the list in the API and the audit log (puller "prefetch:<name>")'),
      images: z.array(section({
        repository: text().describe('<upstream>/<repository>, or a repository under defaultUpstream'),
        tags: z.array(text(), { error: 'must be an array of tag globs' }).min(1, 'must list at least one tag glob').optional()
          .describe('Globs over the upstream\'s tags, e.g. "1.2.*" or "latest"'),
        semver: text().superRefine((s, ctx) => {
          const problem = semverRangeProblem(s);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }).optional().describe('Upstream tags that are versions in this range, e.g. ">=1.4.0 <2" or "^3.19"'),
      }).refine((e) => e.tags !== undefined || e.semver !== undefined, 'must give tags, semver, or both'), { error: 'must be an array' })
        .min(1, 'must list at least one image').describe('Repositories and which of their upstream tags to fetch'),
      platforms: z.array(z.string({ error: 'must be a platform such as "linux/amd64"' }).regex(PLATFORM, 'must be a platform such as "linux/amd64"'), { error: 'must be an array' })
        .min(1, 'must list at least one platform').optional().describe('Platforms fetched of a multi-platform image (default: all in the index)'),
      referrers: z.boolean({ error: 'must be true or false' }).default(true).describe('Also fetch signatures, attestations and other referrers'),
    }), { error: 'must be an array' }).default([]).refine((lists) => new Set(lists.map((l) => l.name)).size === lists.length, 'must not repeat a list name').describe('Lists of images to keep in the cache'),
  }).optional().describe('Images fetched whole into the cache on a schedule, judged and audited as pulls'),
  export: section({
    signingKey: text().optional().describe('Ed25519 private key (PEM) that signs the summary inside archives written by `portcullis export`'),
  }).optional(),
};

/** What the loader validates; policy rules are checked by src/policy/validate.ts (as the API does). */
export const configSchema = z.strictObject({ ...fields, policies: z.unknown().optional() }, { error: 'must be an object' });
export type RawConfig = z.output<typeof configSchema>;

// The published schema also describes policy rules, for completion; CEL and patterns are checked at load.
const identity = z.object({
  root: z.string().optional(), issuer: z.string().optional(), issuerRegExp: z.string().optional(),
  subject: z.string().optional(), subjectRegExp: z.string().optional(),
  extensions: z.record(z.string(), z.string()).optional(), extensionsRegExp: z.record(z.string(), z.string()).optional(),
});
const signer = z.union([
  z.object({ key: z.string().describe('A name in trust.keys'), tlog: z.enum(['required', 'optional']).optional() }),
  z.object({ keyless: identity }),
  z.object({ notation: z.object({
    trustStores: z.array(z.string()).describe('ca:<name> or signingAuthority:<name>'),
    trustedIdentities: z.array(z.string()).describe('"*" or "x509.subject: <DN>"'),
    tsa: z.array(z.string()).optional().describe('tsa:<name>'),
  }) }),
]);
const signedBy = z.object({ anyOf: z.array(signer) });
const policyRule = z.object({
  name: z.string(),
  match: z.array(z.string()).describe('Globs over <upstream>/<repository>'),
  mode: z.enum(['enforce', 'warn', 'allow', 'deny']),
  signatures: signedBy.optional(),
  provenance: z.object({
    signedBy, builderId: z.string().optional(), builderIdRegExp: z.string().optional(),
    sourceRepository: z.string().optional(), sourceRepositoryRegExp: z.string().optional(),
    sourceBranch: z.string().optional(), sourceBranchRegExp: z.string().optional(),
  }).optional(),
  attestations: z.array(z.object({ name: z.string(), predicateType: z.string(), signedBy, condition: z.string().optional() })).optional(),
  condition: z.string().optional().describe('CEL expression'),
  maxAgeDays: z.number().optional(),
  baseImage: z.object({ maxBehindDays: z.number(), requireAnnotation: z.boolean().optional() }).optional(),
  vulnerabilities: z.object({
    scans: z.object({ signedBy, maxAge: z.string().optional() }),
    vex: z.object({ signedBy }).optional(),
    deny: z.object({
      severity: z.enum(['critical', 'high', 'medium', 'low']).optional(),
      fixableOnly: z.boolean().optional(),
      ids: z.array(z.string()).optional(),
      knownExploited: z.boolean().optional(),
    }).optional(),
    gracePeriod: z.string().optional(),
  }).optional(),
});
const publishedSchema = z.strictObject({ ...fields, policies: z.array(policyRule).optional().describe('Rules in order; the first that matches decides') });

/** The JSON Schema of the config file, as published in config.schema.json. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(publishedSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'Portcullis configuration',
  };
}

/** config.schema.json's content (`npm run schema` writes it; a test checks the committed file is current). */
export function configSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
