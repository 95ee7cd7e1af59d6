import type { Server } from 'node:http';
// oidc-provider (panva, OpenID Certified) ships no type declarations; this helper is its only user.
// @ts-expect-error -- untyped module
import Provider from 'oidc-provider';

/**
 * A real OpenID provider for the tests: oidc-provider on a loopback port, with its development sign-in
 * pages (any login name, no password) and the accounts below. Claims other than `sub` are only in the
 * userinfo response, as many providers do by default.
 */
export interface TestAccount {
  email: string;
  groups: string[];
}

export const ACCOUNTS: Record<string, TestAccount> = {
  alice: { email: 'alice@example.test', groups: ['platform-admins', 'staff'] },
  audrey: { email: 'audrey@example.test', groups: ['auditors'] },
  mallory: { email: 'mallory@example.test', groups: ['contractors'] },
};

export const CLIENT_ID = 'portcullis-console';
export const CLIENT_SECRET = 'test-client-secret-5d1e9a';

export interface TestProvider {
  issuer: string;
  stop(): Promise<void>;
}

export async function startOidcProvider(port: number, redirectUris: string[]): Promise<TestProvider> {
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'], profile: ['name', 'preferred_username'] },
    cookies: { keys: ['test-cookie-key-of-the-provider'] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx: unknown, id: string) {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, email: account.email, email_verified: true, groups: account.groups, preferred_username: id }) };
    },
  });
  const server = (await new Promise<Server>((resolve, reject) => {
    const s = provider.listen(port, '127.0.0.1', () => resolve(s)) as Server;
    s.once('error', reject);
  }));
  return {
    issuer,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
