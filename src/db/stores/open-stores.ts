import type { Database } from '../types.js';
import type { Dialect } from '../query/dialect.js';
import type { Executor } from '../query/steps.js';
import { SqlAuditStore } from './audit-store.js';
import { SqlFailureStore, SqlKeyStore } from './auth-store.js';
import { SqlCacheStore } from './cache-store.js';
import { SqlLeaseStore } from './lease-store.js';
import { SqlPolicyStore } from './policy-store.js';
import { SqlTagStore } from './tag-store.js';
import { SqlSessionStore } from './session-store.js';
import { SqlNotificationStore } from './notification-store.js';
import { SqlTrustStore } from './trust-store.js';
import { SqlPrefetchStore } from './prefetch-store.js';

export type Stores = Pick<Database, 'cache' | 'audit' | 'policies' | 'keys' | 'failures' | 'sessions' | 'leases' | 'trust' | 'tags' | 'prefetch' | 'notifications'>;

/** Every store over one database: the same code for each backend, given its executor and dialect. */
export function openStores(x: Executor, dialect: Dialect): Stores {
  return {
    cache: new SqlCacheStore(x, dialect),
    audit: new SqlAuditStore(x, dialect),
    policies: new SqlPolicyStore(x, dialect),
    keys: new SqlKeyStore(x),
    failures: new SqlFailureStore(x),
    sessions: new SqlSessionStore(x),
    leases: new SqlLeaseStore(x),
    trust: new SqlTrustStore(x, dialect),
    tags: new SqlTagStore(x, dialect),
    prefetch: new SqlPrefetchStore(x),
    notifications: new SqlNotificationStore(x, dialect),
  };
}
