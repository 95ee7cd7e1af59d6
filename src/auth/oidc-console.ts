import * as oidc from 'openid-client';
import type { OidcConsoleConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { Claims } from './role-mapping.js';

/** Seconds a discovery, token or userinfo request to the provider may take. */
const PROVIDER_TIMEOUT_S = 5;
/** After a failed discovery, how long the reason is given before the provider is asked again. */
const RETRY_AFTER_MS = 5_000;

export interface Begun {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/**
 * The OpenID provider of people, through openid-client (certified): discovery, the authorization code flow
 * with PKCE, state and nonce, and the ID token's checks. Discovery is retried on use until it succeeds, so
 * a provider that is down at start-up only makes single sign-on unavailable, with the reason, meanwhile.
 */
export class ConsoleProvider {
  private config?: oidc.Configuration;
  private failure?: { reason: string; at: number };
  private discovering?: Promise<void>;

  constructor(
    readonly settings: OidcConsoleConfig,
    private readonly log: Logger,
  ) {}

  get name(): string {
    return this.settings.name;
  }

  /** Whether sign-in can start now, and why not. */
  async status(): Promise<{ available: true } | { available: false; reason: string }> {
    if (this.config) return { available: true };
    if (!this.failure || Date.now() - this.failure.at >= RETRY_AFTER_MS) {
      this.discovering ??= this.discover().finally(() => (this.discovering = undefined));
      await this.discovering;
    }
    return this.config ? { available: true } : { available: false, reason: this.failure!.reason };
  }

  /** The provider's authorization URL for a new sign-in, and the secrets the callback must match. */
  async begin(redirectUrl: string): Promise<Begun> {
    const config = await this.ready();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUrl,
      scope: this.settings.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state, nonce, codeVerifier };
  }

  /**
   * Exchanges the callback's code and checks state, nonce, PKCE and the ID token; returns its claims, with
   * the userinfo endpoint's when the ID token lacks claims the role rules or the name need.
   */
  async finish(callbackUrl: URL, expected: { state: string; nonce: string; codeVerifier: string }, wanted: string[]): Promise<Claims> {
    const config = await this.ready();
    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: expected.codeVerifier,
      expectedState: expected.state,
      expectedNonce: expected.nonce,
      idTokenExpected: true,
    });
    const claims: Claims = { ...tokens.claims()! };
    const missing = wanted.some((c) => claims[c] === undefined && claims[c.split('.')[0]!] === undefined);
    if (missing && config.serverMetadata().userinfo_endpoint) {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub));
      // The ID token's claims win: it is the signed statement of who signed in.
      return { ...info, ...claims };
    }
    return claims;
  }

  private async ready(): Promise<oidc.Configuration> {
    const s = await this.status();
    if (!s.available) throw new ProviderUnavailable(s.reason);
    return this.config!;
  }

  private async discover(): Promise<void> {
    const issuer = new URL(this.settings.issuer);
    const secret = this.settings.clientSecret;
    try {
      this.config = await oidc.discovery(
        issuer,
        this.settings.clientId,
        secret ? { client_secret: secret } : undefined,
        secret ? oidc.ClientSecretPost(secret) : oidc.None(),
        {
          timeout: PROVIDER_TIMEOUT_S,
          // Plain http only to a provider on this machine (tests, a local Dex); anywhere else it must be https.
          execute: isLoopback(issuer) ? [oidc.allowInsecureRequests] : [],
        },
      );
      this.config.timeout = PROVIDER_TIMEOUT_S;
      this.failure = undefined;
      this.log.info('single sign-on provider discovered', { issuer: this.settings.issuer });
    } catch (err) {
      const reason = `the provider ${this.settings.issuer} cannot be used: ${describeError(err)}`;
      if (this.failure?.reason !== reason) this.log.warn('single sign-on is unavailable', { issuer: this.settings.issuer, reason });
      this.failure = { reason, at: Date.now() };
    }
  }
}

export class ProviderUnavailable extends Error {}

function isLoopback(u: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
}

/** A provider or network error in one line, without tokens or secrets (openid-client's messages hold none). */
export function describeError(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string }; error?: string; error_description?: string };
  if (e?.error) return `${e.error}${e.error_description ? `: ${e.error_description}` : ''}`.slice(0, 300);
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`.slice(0, 300);
}
