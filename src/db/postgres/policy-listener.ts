import pg from 'pg';

/** The channel a new policy version is announced on; the payload is its number. */
export const POLICY_CHANNEL = 'portcullis_policy';

/** LISTENs for announcements on a connection of its own, reconnecting after a second when it drops. */
export function listenPolicies(url: string, onError: (err: Error) => void, check: () => void): { stop(): void } {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url });
    client = c;
    const again = (err?: Error) => {
      if (err) onError(err);
      c.removeAllListeners();
      c.on('error', () => {});
      void c.end().catch(() => {});
      if (client === c) client = undefined;
      if (!stopped && !retry) retry = setTimeout(() => ((retry = undefined), connect()), 1000).unref();
    };
    c.on('error', again);
    c.on('end', () => again());
    c.on('notification', () => check());
    c.connect()
      .then(() => c.query(`LISTEN ${POLICY_CHANNEL}`))
      .then(() => check(), again);
  };
  connect();
  return {
    stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners();
        c.on('error', () => {});
        void c.end().catch(() => {});
      }
    },
  };
}
