import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

/**
 * A real OpenID issuer for machine tokens, as CI services run one: an HTTP server on a loopback port with a
 * discovery document and a JWKS, and the private keys to mint tokens. Keys can be rotated, and the JWKS
 * requests are counted (to see the proxy refresh, and not too often).
 */
export interface JwtIssuer {
  /** `http://127.0.0.1:PORT` — also the `iss` of its tokens. */
  url: string;
  /** The current key's id. */
  kid: string;
  /** GETs of the JWKS so far. */
  jwksRequests(): number;
  /** A token signed with the current key: `iss`, `iat`, `exp` (+10 min) and `kid` filled in unless given. */
  mint(claims: JWTPayload, opts?: { kid?: string; alg?: string; key?: CryptoKey; issuer?: string }): Promise<string>;
  /** A new signing key; the JWKS publishes it and (unless `keepOld`) drops the old one. */
  rotate(opts?: { keepOld?: boolean }): Promise<void>;
  /** A key pair the issuer never publishes (for unknown-key tokens). */
  strayKey(): Promise<CryptoKey>;
  /** A token "signed" with HMAC using the issuer's public key as the secret (the classic key confusion). */
  hmacConfused(claims: JWTPayload): Promise<string>;
  /** The JWKS as published now (for a jwksFile). */
  jwks(): { keys: JWK[] };
  stop(): Promise<void>;
}

interface Key {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function newKey(n: number): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `key-${n}-${Date.now().toString(36)}`;
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export async function startJwtIssuer(): Promise<JwtIssuer> {
  let counter = 0;
  let keys: Key[] = [await newKey(counter++)];
  let jwksGets = 0;
  const server: Server = createServer((req, res) => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (req.url === '/jwks') {
      jwksGets++;
      res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const current = () => keys[keys.length - 1]!;
  const issuer: JwtIssuer = {
    url,
    get kid() {
      return current().kid;
    },
    jwksRequests: () => jwksGets,
    async mint(claims, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const key = current();
      return new SignJWT({ iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? key.kid, typ: 'JWT' })
        .setIssuer(opts.issuer ?? (claims.iss as string | undefined) ?? url)
        .sign(opts.key ?? key.privateKey);
    },
    async rotate(opts = {}) {
      const fresh = await newKey(counter++);
      keys = opts.keepOld ? [...keys, fresh] : [fresh];
    },
    async strayKey() {
      return (await generateKeyPair('RS256')).privateKey;
    },
    async hmacConfused(claims) {
      const now = Math.floor(Date.now() / 1000);
      const header = b64({ alg: 'HS256', typ: 'JWT', kid: current().kid });
      const payload = b64({ iss: url, iat: now, exp: now + 600, ...claims });
      const secret = await exportSPKI(current().publicKey);
      const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      return `${header}.${payload}.${signature}`;
    },
    jwks: () => ({ keys: keys.map((k) => k.jwk) }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return issuer;
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An unsigned token (`alg: none`), as an attacker would send it. */
export function unsignedToken(claims: JWTPayload): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iat: now, exp: now + 600, ...claims })}.`;
}
