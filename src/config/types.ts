import type { PolicyRule } from '../policy/types.js';

/** The validated, frozen configuration. Paths are absolute; durations are milliseconds; secrets resolved. */
export interface UpstreamConfig {
  name: string;
  url: string;
  username?: string;
  password?: string;
  /** Tags are revalidated with HEAD only after this long. */
  tagTtlMs: number;
  connectTimeoutMs: number;
  /** A response that sends nothing for this long is abandoned. */
  idleTimeoutMs: number;
  retries: number;
  /** A manifest, tag list, referrers or signature-artifact request, all of it (queueing, retries, body). */
  metadataDeadlineMs?: number;
  /** A blob body slower than this (bytes per second, over any `blobRateWindowMs`) is abandoned. */
  blobMinBytesPerSecond?: number;
  blobRateWindowMs?: number;
  /** Connections to the upstream (the pool), and how many of them one repository may hold at once. */
  maxConnections?: number;
  maxConnectionsPerRepository?: number;
  /**
   * When a tag moves upstream after it was verified: `follow` judges the new digest, `keep-verified` serves
   * the last digest that passed when the new one fails, `deny` refuses the tag until an admin accepts it.
   */
  tagDrift?: 'follow' | 'keep-verified' | 'deny';
}

/** An S3-compatible bucket holding the blobs; no credentials means the SDK's default chain (IRSA, instance roles). */
export interface S3StoreConfig {
  bucket: string;
  endpoint?: string;
  region: string;
  /** Empty or ending in "/". */
  prefix: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  serverSideEncryption?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  redirect: boolean;
  redirectTtlMs: number;
}

export interface TrustConfig {
  /** `public-good` or an absolute path to a Sigstore trusted_root.json. */
  trustedRoot: string;
  /**
   * Further roots by name → absolute path of a trusted_root.json or a `.jsonl` of roots (every line trusted
   * under the name). Keyless entries name one with `root`; without it they use `trustedRoot`.
   */
  roots?: Record<string, string>;
  /** Key name → PEM public key. */
  keys: Record<string, string>;
  verifyTtlMs: number;
  /** The CISA Known Exploited Vulnerabilities catalog file (absolute), for `vulnerabilities.deny.knownExploited`. */
  knownExploitedFile?: string;
  /** Bounds of the referrers walk for one subject (`maxBytes` in bytes); defaults when absent. */
  referrers?: ReferrerLimits;
  /** Notation (Notary Project) trust: an absolute path to a `notation` trust store folder (`x509/{ca,signingAuthority,tsa}/<name>/`). */
  notation?: { trustStoreDir: string };
}

export type Role = 'admin' | 'auditor' | 'puller';

export interface TokenConfig {
  name: string;
  role: Role;
  /** Hex sha256 of the token; tokens given by env are hashed at load so the secret is not kept. */
  tokenSha256: string;
}

/** A trusted JWT issuer for workloads, as checked at load (src/config/oidc-issuers.ts). */
export interface OidcIssuerConfig {
  name: string;
  issuer: string;
  audience: string[];
  role: Role;
  subject?: string;
  subjectRegExp?: string;
  claims: Record<string, string>;
  claimsRegExp: Record<string, string>;
  repositories?: string[];
  /** The JWKS read at load (air-gapped); reread when a token names a key it lacks. */
  jwksFile?: string;
  algorithms: string[];
  minKeyRefreshMs: number;
  /** Keys older than this are fetched again before use (default 10 min): a dropped key is refused by then. */
  maxKeyAgeMs?: number;
}

export interface AuthConfig {
  pull: 'anonymous' | 'token';
  tokens: TokenConfig[];
  oidc?: { console?: OidcConsoleConfig };
  /** Trusted JWT issuers for workloads (src/config/oidc-issuers.ts). */
  oidcIssuers?: OidcIssuerConfig[];
}

/** Single sign-on of people (`auth.oidc.console`); the client secret is resolved from its variable. */
export interface OidcConsoleConfig {
  issuer: string;
  /** Shown on the console's button. */
  name: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  redirectUrl?: string;
  nameClaim: string;
  /** Role → claim name → values that grant it. */
  roles: Partial<Record<Role, Record<string, string[]>>>;
  sessionTtlMs: number;
}

/** Signed checkpoints of the audit log's head (see src/audit/checkpointer.ts). */
export interface CheckpointConfig {
  /** Absolute path of the Ed25519 private key (PEM), checked at load. */
  key: string;
  /** Absolute path of the file checkpoints are appended to. */
  file?: string;
  /** A checkpoint at least this often while events arrive… */
  everyMs: number;
  /** …or after this many events, whichever comes first. */
  everyEvents: number;
}

/** A receiver of signed CloudEvents for audit events (src/notify/). */
export interface WebhookConfig {
  /** Unique; names the webhook in the outbox, the API, metrics and logs (the URL may hold a secret). */
  name: string;
  url: string;
  /** Audit event kinds or globs (`*` matches any text). */
  events: readonly string[];
  /** Only events with one of these decisions; events without a decision pass. */
  decisions?: readonly string[];
  /** The HMAC-SHA256 key (from `secretEnv`); empty only under read-only commands. */
  secret: string;
  headers: Readonly<Record<string, string>>;
}

/** `timeoutMs` per delivery; `retryBackoffMs` doubles per failure up to an hour; `maxPending` per webhook. */
export interface NotificationsConfig {
  webhooks: readonly WebhookConfig[];
  timeoutMs: number;
  retryBackoffMs: number;
  maxAttempts: number;
  maxPending: number;
}

export interface Config {
  /** Absolute path of the config file, for messages. */
  source: string;
  listen: { host: string; port: number };
  tls?: { cert: string; key: string };
  /**
   * `protectRecentMs`: blobs used or referenced by a manifest pulled this recently are never evicted.
   * `path`: the store's folder, or with `s3` only the temp folder of downloads in progress.
   * `offload.xAccelRedirect`: nginx serves cached, allowed large blobs from `<prefix><path in the store>`.
   */
  storage: {
    path: string;
    maxSizeBytes?: number;
    protectRecentMs?: number;
    linkRetentionMs?: number;
    offload?: { xAccelRedirect: string };
    s3?: S3StoreConfig;
  };
  /**
   * `maxLayers`: manifests listing more layers (indexes: more manifests) are refused before anything is stored.
   * `maxArtifactBytes`: largest artifact (its blobs together) proven by content and served under its subject's decision.
   * `prefetchBlobs`: a served manifest's blobs that the cache lacks start downloading before the client asks.
   */
  pull?: { maxLayers: number; maxArtifactBytes: number; prefetchBlobs?: boolean };
  /**
   * HTTP server limits; `headersTimeoutMs` cuts off clients that send headers too slowly (slowloris).
   * `workers`: processes serving on this machine (default: the number of CPUs; 1 is a single process).
   * `requestTimeoutMs`: a request, headers and body, must have arrived within this (responses are not limited).
   * `maxConnectionsPerClient`: open connections one client address may hold in one process.
   * `trustedProxies`: addresses and CIDR ranges whose `X-Forwarded-For` names the client.
   */
  server?: {
    headersTimeoutMs: number;
    requestTimeoutMs?: number;
    maxConnectionsPerClient?: number;
    workers: number;
    trustedProxies?: readonly string[];
  };
  /** SQLite file (`path`) or PostgreSQL (`url`, which may hold a password: never log it). Exactly one is set. */
  database: { path: string; url?: undefined } | { url: string; path?: undefined };
  upstreams: UpstreamConfig[];
  defaultUpstream?: string;
  policies: PolicyRule[];
  trust: TrustConfig;
  auth: AuthConfig;
  /** `liveStreamsPerIdentity`: live audit streams one identity may hold open in one process. */
  audit: { retainDays?: number; liveStreamsPerIdentity?: number; checkpoint?: CheckpointConfig };
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  /** Lists of images fetched whole into the cache on a schedule (and the CLI's defaults). */
  prefetch?: PrefetchConfig;
  notifications?: NotificationsConfig;
  /** `portcullis export`: the key that signs an archive's summary (absolute path), when set. */
  export?: { signingKey?: string };
}

/**
 * `prefetch`: `intervalMs` between scheduled runs of every list; `concurrency`: images fetched at once.
 * A list's entries name a repository (`<upstream>/<repository>`, or under the default upstream) and pick its
 * upstream tags by glob (`tags`) and/or semantic version range (`semver`); both given, a tag must match both.
 */
export interface PrefetchConfig {
  intervalMs: number;
  concurrency: number;
  lists: PrefetchList[];
}

export interface PrefetchList {
  name: string;
  images: Array<{ repository: string; tags?: string[]; semver?: string }>;
  /** `os/arch[/variant]`; absent: every platform in the index. */
  platforms?: string[];
  referrers: boolean;
}

/**
 * How far the referrers of one subject are walked (`trust.referrers`). A subject may list thousands of
 * referrers, anyone who can push may add more, and each costs upstream requests: the walk stops at these
 * bounds, and says which one it hit, so a pull neither stalls nor is refused as unsigned when its signature
 * simply lay beyond them.
 */
export interface ReferrerLimits {
  /** Referrer manifests looked at (nested ones included). */
  maxCount: number;
  /** Bytes read in all: referrer lists, referrer manifests, bundles (all but large scan and VEX bundles). */
  maxBytes: number;
  /** Bytes read in all for scan and VEX bundles over 2 MiB, which have their own budget. */
  maxReportBytes: number;
  /** Pages of the referrers API followed (`Link: <…>; rel="next"`). */
  maxPages: number;
  /** 1: the subject's referrers; 2: also the manifests of a referrer that is an index; and so on. */
  maxDepth: number;
}
