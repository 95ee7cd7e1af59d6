import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3StoreConfig } from '../config/types.js';

/** Attempts per S3 request: throttling (503 SlowDown) and dropped connections are retried with backoff. */
const MAX_ATTEMPTS = 5;

/** The client for `storage.s3`: adaptive retries (they slow down when the store throttles), bounded connects. */
export function createS3Client(cfg: S3StoreConfig): S3Client {
  // The SDK writes a plain-text warning to stderr as a Node.js line nears its end of support; logs are JSON lines.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    region: cfg.region,
    ...(cfg.endpoint !== undefined ? { endpoint: cfg.endpoint } : {}),
    forcePathStyle: cfg.forcePathStyle,
    // A copy: the SDK annotates the credentials object, and the config is frozen.
    ...(cfg.credentials ? { credentials: { ...cfg.credentials } } : {}),
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'adaptive',
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  });
}

/** A short, credential-free description of an S3 failure, for errors, readiness and logs. */
export function describeS3Error(err: unknown): string {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    const hint =
      err.name === 'NoSuchBucket' || (status === 404 && err.name === 'NotFound') ? 'the bucket does not exist'
      : err.name === 'InvalidAccessKeyId' || err.name === 'SignatureDoesNotMatch' || status === 403 ? 'the credentials were refused'
      : err.name === 'SlowDown' || status === 503 ? 'the store is throttling or unavailable'
      : undefined;
    return `${err.name}${status !== undefined ? ` (HTTP ${status})` : ''}${hint ? `: ${hint}` : ''}`;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'CredentialsProviderError') return 'no credentials found (set storage.s3.accessKeyIdEnv and secretAccessKeyEnv, or the SDK\'s environment)';
  const cause = (e as { cause?: NodeJS.ErrnoException })?.cause;
  const code = e?.code ?? cause?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT' || e?.name === 'TimeoutError') {
    return `the endpoint cannot be reached (${code ?? e.name})`;
  }
  return String(e?.message ?? err).slice(0, 300);
}

/** Whether an S3 error says the object is not there (as opposed to the store failing to answer). */
export function isNotFound(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || (err.$metadata.httpStatusCode === 404 && err.name !== 'NoSuchBucket');
}
