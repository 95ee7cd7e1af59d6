import type { S3StoreConfig } from './types.js';
import type { RawConfig } from './schema.js';
import { parseDuration } from './units.js';

type RawS3 = NonNullable<NonNullable<RawConfig['storage']>['s3']>;

/**
 * Resolves `storage.s3`: credentials come from the named environment variables, all of them or none (then the
 * SDK's default chain finds them). A read-only command may run without them.
 */
export function checkS3Storage(o: RawS3, env: NodeJS.ProcessEnv, secretsRequired: boolean, error: (path: string, message: string) => void): S3StoreConfig | undefined {
  const p = 'storage.s3';
  const named = { accessKeyIdEnv: o.accessKeyIdEnv, secretAccessKeyEnv: o.secretAccessKeyEnv };
  let credentials: S3StoreConfig['credentials'];
  if ((named.accessKeyIdEnv === undefined) !== (named.secretAccessKeyEnv === undefined)) {
    error(`${p}.secretAccessKeyEnv`, 'accessKeyIdEnv and secretAccessKeyEnv go together (or neither, for the SDK\'s default credential chain)');
  } else if (named.accessKeyIdEnv !== undefined && named.secretAccessKeyEnv !== undefined) {
    const accessKeyId = env[named.accessKeyIdEnv];
    const secretAccessKey = env[named.secretAccessKeyEnv];
    const sessionToken = o.sessionTokenEnv !== undefined ? env[o.sessionTokenEnv] : undefined;
    for (const [key, name, value] of [['accessKeyIdEnv', named.accessKeyIdEnv, accessKeyId], ['secretAccessKeyEnv', named.secretAccessKeyEnv, secretAccessKey]] as const) {
      if (value === undefined && secretsRequired) error(`${p}.${key}`, `environment variable ${name} is not set`);
    }
    if (accessKeyId !== undefined && secretAccessKey !== undefined) {
      credentials = { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) };
    }
  }
  if (o.kmsKeyId !== undefined && o.serverSideEncryption !== 'aws:kms') error(`${p}.kmsKeyId`, 'needs serverSideEncryption "aws:kms"');
  return {
    bucket: o.bucket,
    ...(o.endpoint !== undefined ? { endpoint: o.endpoint.replace(/\/+$/, '') } : {}),
    region: o.region ?? 'us-east-1',
    prefix: o.prefix ?? '',
    forcePathStyle: o.forcePathStyle ?? false,
    ...(credentials ? { credentials } : {}),
    ...(o.serverSideEncryption !== undefined ? { serverSideEncryption: o.serverSideEncryption } : {}),
    ...(o.kmsKeyId !== undefined ? { kmsKeyId: o.kmsKeyId } : {}),
    redirect: o.redirect ?? false,
    redirectTtlMs: parseDuration(o.redirectTtl ?? '5m')!,
  };
}
