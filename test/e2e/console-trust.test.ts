import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type Registry } from '../helpers/registry.js';
import { createSignatureArtifact, createTestPki, type OciArtifact } from '../helpers/pki/index.js';
import { createNotationCa, NOTATION, notationReferrer, signJws, writeTrustStore, type NotationLeaf } from '../helpers/pki/notation.js';
import { artifact, cosignTag, MT } from '../helpers/pki/oci.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';
import { launchBrowser, shot, signIn as signInAs, skipConsole } from './console-support.js';

/**
 * Exceptions and revocations in the console, in a real browser against the built proxy and a docker-registry
 * upstream; every change is checked by what skopeo pulls get afterwards, not only by what the page says.
 */
const GITHUB = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const RELEASE_RE = 'https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v.*';
const SIGNED = `${UPSTREAM}/acme/app`;
const UNSIGNED = `${UPSTREAM}/acme/unsigned`;

const TOKENS = {
  alice: { role: 'admin', secret: 'e2e-trust-admin-5d1c88' },
  audrey: { role: 'auditor', secret: 'e2e-trust-auditor-0b7e42' },
  'ci-bot': { role: 'puller', secret: 'e2e-trust-ci-93aa10' },
} as const;
type Name = keyof typeof TOKENS;

const RULES = [
  {
    name: 'release-signed',
    match: [`${UPSTREAM}/acme/**`],
    mode: 'enforce',
    signatures: { anyOf: [{ keyless: { issuer: GITHUB, subjectRegExp: RELEASE_RE } }] },
  },
  { name: 'blocked', match: [`${UPSTREAM}/blocked/**`], mode: 'deny' },
  {
    name: 'notary-signed',
    match: [`${UPSTREAM}/notary/**`],
    mode: 'enforce',
    signatures: { anyOf: [{ notation: { trustStores: ['ca:acme'], trustedIdentities: ['x509.subject: C=US, O=Acme, CN=release'] } }] },
  },
];
const NOTARY = `${UPSTREAM}/notary/app`;

describe.skipIf(skipConsole)('console: exceptions and revocations', () => {
  let registry: Registry;
  let proxy: Proxy;
  let browser: Browser;
  let context: BrowserContext;

  const api = (name: Name, path: string, init: RequestInit = {}) =>
    fetch(`${proxy.url}/api/v1${path}`, { ...init, headers: { Authorization: `Bearer ${TOKENS[name].secret}`, 'Content-Type': 'application/json', ...init.headers } });
  const signIn = (page: Page, name: Name) => signInAs(page, `${proxy.url}/ui/`, { name, ...TOKENS[name] });

  /** A real pull with skopeo; resolves with whether it was served. */
  async function pull(image: string): Promise<boolean> {
    try {
      await runCommand('skopeo', [
        '--insecure-policy', 'copy', '--src-tls-verify=false', '--src-creds', `ci-bot:${TOKENS['ci-bot'].secret}`,
        `docker://${proxy.host}/${image}:1`, `oci:${await tempDir('pull')}`,
      ]);
      return true;
    } catch (err) {
      if (!/denied|DENIED|403/.test(String(err))) throw err;
      return false;
    }
  }

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  let notaryLeaf: NotationLeaf;

  const rowOf = (page: Page, table: string, id: number) => page.locator(`#${table} tbody tr[data-id="${id}"]`);

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const pki = createTestPki();
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    const signed = await pushImage(registry.url, 'acme/app', '1', { layers: 1 });
    await push(createSignatureArtifact({ digest: signed.digest, repository: SIGNED, signer: pki.fulcio.issue({ uri: RELEASE, issuer: GITHUB }), rekor: pki.rekor }), 'acme/app');
    await pushImage(registry.url, 'acme/unsigned', '1', { layers: 1 });
    // A Notation-signed image, its signature listed by the referrers tag schema as notation pushes it.
    const ca = createNotationCa();
    const storeDir = join(dataDir, 'notation');
    mkdirSync(storeDir);
    writeTrustStore(storeDir, 'ca', 'acme', [ca.pem]);
    notaryLeaf = ca.issue({ subject: { C: 'US', ST: 'WA', O: 'Acme', CN: 'release' } });
    const notary = await pushImage(registry.url, 'notary/app', '1', { layers: 1 });
    const subject = { mediaType: notary.mediaType, digest: notary.digest, size: notary.size };
    const referrer = notationReferrer(subject, signJws({ signer: notaryLeaf, target: subject }), NOTATION.jws);
    await push(referrer, 'notary/app');
    const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.manifest.length, artifactType: NOTATION.artifactType }] };
    await push(artifact(index, MT.ociIndex, [], cosignTag(notary.digest)), 'notary/app');
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: RULES,
      dataDir,
      extra: {
        trust: { trustedRoot, notation: { trustStoreDir: storeDir } },
        auth: { pull: 'token', tokens: Object.entries(TOKENS).map(([name, t]) => ({ name, role: t.role, tokenSha256: createHash('sha256').update(t.secret).digest('hex') })) },
      },
    });
    expect(await pull(SIGNED)).toBe(true);
    expect(await pull(UNSIGNED)).toBe(false);
    expect(await pull(NOTARY)).toBe(true);
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });

  afterEach(async () => {
    await context?.close();
  });

  it('lets an admin make an exception, see it active with its expiry, and revoke it; pulls follow', async () => {
    const page = await context.newPage();
    await signIn(page, 'alice');
    await page.getByRole('link', { name: 'Exceptions' }).click();
    await expect.poll(() => page.locator('#exception-list').textContent()).toBe('No exception has been made.');

    // The API's own words for a field it refuses.
    await page.getByLabel('Image', { exact: true }).fill(UNSIGNED);
    await page.getByLabel('Until').fill('40d');
    await page.getByLabel('Reason').fill('INC-1234 hotfix');
    await page.getByRole('button', { name: 'Create exception' }).click();
    await expect.poll(() => page.locator('#exception-create-result [role=alert]').textContent()).toMatch(/until must be at most 30d from now/);

    await page.getByLabel('Until').fill('4h');
    const before = Date.now();
    await page.getByRole('button', { name: 'Create exception' }).click();
    await expect.poll(() => page.locator('#exception-result').textContent()).toMatch(new RegExp(`^Exception 1 for ${UNSIGNED} is active until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\.`));
    const row = rowOf(page, 'exceptions', 1);
    await expect.poll(() => row.getAttribute('data-state')).toBe('active');
    const cells = await row.locator('th, td').allTextContents();
    expect(cells.slice(0, 3)).toEqual(['1', UNSIGNED, 'active']);
    expect(cells[4]).toBe('INC-1234 hotfix');
    expect(cells[5]).toMatch(/^alice\d{4}-/);
    // The expiry: its time four hours on, and how far that is.
    const until = await row.locator('time').getAttribute('datetime');
    expect(Math.abs(Date.parse(until!) - (before + 4 * 3_600_000))).toBeLessThan(60_000);
    expect(cells[3]).toMatch(/in (3 h 5\d min|4 h)$/);
    expect(page.url()).toMatch(/#\/exceptions$/);
    await shot(page, 'exceptions.png');
    expect(await pull(UNSIGNED)).toBe(true);

    await page.getByRole('button', { name: 'Revoke exception 1' }).click();
    await page.getByRole('button', { name: 'Yes, revoke exception 1' }).click();
    await expect.poll(() => row.getAttribute('data-state')).toBe('revoked');
    expect(await row.locator('td').nth(1).textContent()).toMatch(/^revokedby alice, \d{4}-/);
    expect(await page.getByRole('button', { name: 'Revoke exception 1' }).count()).toBe(0);
    expect(await pull(UNSIGNED)).toBe(false);
    const listed = (await (await api('audrey', '/exceptions')).json()) as { exceptions: Array<{ id: number; state: string; revokedBy: string }> };
    expect(listed.exceptions).toMatchObject([{ id: 1, state: 'revoked', revokedBy: 'alice' }]);

    // An exception that its deny rule never lets apply is made, and the server's warning is shown with it.
    await page.getByLabel('Image', { exact: true }).fill(`${UPSTREAM}/blocked/tool`);
    await page.getByLabel('Until').fill('1h');
    await page.getByLabel('Reason').fill('INC-1235 wrong name');
    await page.getByRole('button', { name: 'Create exception' }).click();
    await expect.poll(() => page.locator('#exception-result [role=alert]').textContent()).toMatch(/Warnings from the server:.*policy "blocked" denies .*never applies unless coverDenyRule is true/);
  }, 120_000);

  it('lets an admin preview what a signer vouched for, revoke it, read the impact, and lift it; pulls follow', async () => {
    const page = await context.newPage();
    await signIn(page, 'alice');
    await page.getByRole('link', { name: 'Revocations' }).click();
    await expect.poll(() => page.locator('#revocation-list').textContent()).toBe('No signer has been revoked.');
    await page.getByLabel('Signer', { exact: true }).selectOption('keyless');
    await page.getByLabel('Issuer').fill(GITHUB);
    await page.getByLabel('Subject').fill(RELEASE);
    await page.getByLabel('Reason').fill('release workflow compromised');
    await page.getByRole('button', { name: 'Preview impact' }).click();

    // The preview changes nothing: the image served on this signer, from the audit log.
    await expect.poll(() => page.locator('#preview-summary').textContent()).toMatch(/^1 image\(s\) were served on this signer's signatures or attestations\./);
    expect(await page.locator('#preview-images tbody td').first().textContent()).toMatch(new RegExp(`^${SIGNED}@sha256:[0-9a-f]{12}…$`));
    expect(await page.locator('#preview-images tbody td').nth(1).textContent()).toBe('1');
    await shot(page, 'revocation-preview.png');
    expect(((await (await api('audrey', '/trust/revocations')).json()) as { revocations: unknown[] }).revocations).toEqual([]);
    expect(await pull(SIGNED)).toBe(true);

    await page.getByRole('button', { name: 'Yes, revoke this signer' }).click();
    const impact = page.locator('#impact');
    await expect.poll(() => impact.textContent()).toContain(`Revocation 1 of ${RELEASE} (issuer ${GITHUB}) is in force.`);
    expect(await impact.textContent()).toContain('1 image(s) had been served on it: 1 now denied, 0 still served, 0 cannot be judged');
    const denied = await page.locator('#impact-denied tbody td').allTextContents();
    expect(denied[0]).toMatch(new RegExp(`^${SIGNED}@sha256:`));
    expect(denied.slice(1, 3)).toEqual(['release-signed', '2']);
    expect(denied[4]).toMatch(/revoked/i);
    const row = rowOf(page, 'revocations', 1);
    await expect.poll(() => row.getAttribute('data-state')).toBe('active');
    expect(await row.locator('td').allTextContents()).toEqual([`${RELEASE} (issuer ${GITHUB})`, 'in force', 'release workflow compromised', expect.stringMatching(/^alice\d{4}-/), 'Lift revocation 1']);
    await shot(page, 'revocations.png');
    expect(await pull(SIGNED)).toBe(false);

    await page.getByRole('button', { name: 'Lift revocation 1' }).click();
    await page.getByRole('button', { name: 'Yes, lift revocation 1' }).click();
    await expect.poll(() => row.getAttribute('data-state')).toBe('lifted');
    expect(await row.locator('td').nth(1).textContent()).toMatch(/^liftedby alice, \d{4}-/);
    expect(await page.locator('#revocation-result').textContent()).toBe(`Revocation 1 of ${RELEASE} (issuer ${GITHUB}) is lifted.`);
    expect(await pull(SIGNED)).toBe(true);
  }, 120_000);

  it('shows an auditor both lists without write controls, and an admin page the API\'s refusal', async () => {
    const made = await api('alice', '/exceptions', { method: 'POST', body: JSON.stringify({ match: UNSIGNED, until: '2h', reason: 'INC-2000 rollback' }) });
    expect(made.status, await made.clone().text()).toBe(201);
    const { id } = (await made.json()) as { id: number };
    // One that runs out while the page is open: after a reload it is listed as expired.
    const brief = await api('alice', '/exceptions', { method: 'POST', body: JSON.stringify({ match: UNSIGNED, until: new Date(Date.now() + 3000).toISOString(), reason: 'INC-2001 short' }) });
    expect(brief.status, await brief.clone().text()).toBe(201);
    const briefId = ((await brief.json()) as { id: number }).id;
    const revoked = await api('alice', '/trust/revocations', { method: 'POST', body: JSON.stringify({ keyless: { issuer: GITHUB, subject: 'https://github.com/acme/old/.github/workflows/release.yml@refs/tags/v0.1.0' }, reason: 'retired' }) });
    expect(revoked.status).toBe(201);

    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await signIn(page, 'audrey');
    await page.getByRole('link', { name: 'Exceptions' }).click();
    await expect.poll(() => rowOf(page, 'exceptions', id).getAttribute('data-state')).toBe('active');
    expect(await page.locator('#exceptions tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')))).toEqual([String(briefId), String(id), '2', '1']);
    await expect.poll(async () => {
      await page.reload();
      return rowOf(page, 'exceptions', briefId).getAttribute('data-state');
    }, { timeout: 15_000, interval: 1000 }).toBe('expired');
    expect(await rowOf(page, 'exceptions', briefId).locator('td').nth(2).textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZended (less than a minute|1 min) ago$/);
    expect(await page.locator('#exceptions tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-state')))).toEqual(['expired', 'active', 'active', 'revoked']);
    expect(await page.locator('#exceptions thead th').allTextContents()).not.toContain('Actions');
    expect(await page.locator('main button').count()).toBe(0);
    expect(await page.locator('main form').count()).toBe(0);
    expect(await page.getByText('Creating and revoking exceptions needs an admin token.').isVisible()).toBe(true);

    await page.getByRole('link', { name: 'Revocations' }).click();
    await expect.poll(() => page.locator('#revocations tbody tr').count()).toBe(2);
    expect(await page.locator('#revocations tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-state')))).toEqual(['active', 'lifted']);
    expect(await page.locator('main button').count()).toBe(0);
    expect(await page.locator('main form').count()).toBe(0);
    expect(await page.getByText('Revoking a signer and lifting a revocation need an admin token.').isVisible()).toBe(true);
    expect(violations).toEqual([]);

    // The console only hides controls; the API refuses. A page that shows them (an admin's) while the token
    // in use is an auditor's (another admin demoted it meanwhile, say) shows the refusal and changes nothing.
    const admin = await context.newPage();
    await signIn(admin, 'alice');
    await admin.getByRole('link', { name: 'Exceptions' }).click();
    await admin.getByRole('button', { name: `Revoke exception ${id}` }).click();
    await admin.evaluate((t) => sessionStorage.setItem('portcullis.token', t), TOKENS.audrey.secret);
    await admin.getByRole('button', { name: `Yes, revoke exception ${id}` }).click();
    await expect.poll(() => admin.locator('.confirm .error').textContent()).toMatch(/^Not allowed: /);
    expect(await admin.getByRole('button', { name: `Yes, revoke exception ${id}` }).count()).toBe(0);
    const listed = (await (await api('audrey', '/exceptions')).json()) as { exceptions: Array<{ id: number; state: string }> };
    expect(listed.exceptions.find((e) => e.id === id)?.state).toBe('active');
  }, 120_000);

  it('shows each active rule in words beside its JSON', async () => {
    const page = await context.newPage();
    await signIn(page, 'audrey');
    await page.getByRole('link', { name: 'Policy' }).click();
    const summary = page.getByRole('list', { name: 'Rule release-signed in words' });
    await expect.poll(() => summary.locator('li').allTextContents()).toEqual([
      `${UPSTREAM}/acme/** — served only if every requirement holds; denied otherwise`,
      `Signature: keyless signature by /${RELEASE_RE}/ issued by ${GITHUB}`,
    ]);
    expect(await page.getByRole('list', { name: 'Rule blocked in words' }).locator('li').allTextContents()).toEqual([`${UPSTREAM}/blocked/** — always denied`]);
  });
  it('lets an admin revoke a Notation certificate by its fingerprint as openssl prints it; pulls follow', async () => {
    const fingerprint = createHash('sha256').update(notaryLeaf.der).digest('hex');
    const page = await context.newPage();
    await signIn(page, 'alice');
    await page.getByRole('link', { name: 'Revocations' }).click();
    await page.getByLabel('Signer', { exact: true }).selectOption('notation');
    expect(await page.getByLabel('Issuer').isVisible()).toBe(false);
    // What `openssl x509 -fingerprint -sha256` prints: upper case, colons, a prefix.
    await page.getByLabel('Certificate fingerprint').fill(`sha256 Fingerprint=${fingerprint.toUpperCase().match(/../g)!.join(':')}`);
    await page.getByLabel('Reason').fill('notation signing key leaked');
    await page.getByRole('button', { name: 'Preview impact' }).click();
    await expect.poll(() => page.locator('#preview-summary').textContent()).toMatch(/^1 image\(s\) were served on this signer's signatures or attestations\./);
    expect(await page.locator('#preview-images tbody td').first().textContent()).toMatch(new RegExp(`^${NOTARY}@sha256:`));

    await page.getByRole('button', { name: 'Yes, revoke this signer' }).click();
    const impact = page.locator('#impact');
    await expect.poll(() => impact.textContent()).toMatch(new RegExp(`Revocation \\d+ of Notation certificate sha256 ${fingerprint} is in force\\.`));
    expect(await impact.textContent()).toContain('1 now denied');
    const listed = (await (await api('audrey', '/trust/revocations')).json()) as { revocations: Array<{ id: number; signer: unknown; active: boolean }> };
    const made = listed.revocations.find((r) => r.active && JSON.stringify(r.signer) === JSON.stringify({ notation: { fingerprint } }));
    expect(made).toBeDefined();
    expect(await rowOf(page, 'revocations', made!.id).locator('td').first().textContent()).toBe(`Notation certificate sha256 ${fingerprint}`);
    expect(await pull(NOTARY)).toBe(false);

    // A fingerprint that is not one: the form says so and sends nothing.
    await page.getByLabel('Signer', { exact: true }).selectOption('notation');
    await page.getByLabel('Certificate fingerprint').fill('abc123');
    await page.getByLabel('Reason').fill('typo');
    await page.getByRole('button', { name: 'Preview impact' }).click();
    await expect.poll(() => page.locator('#revoke-preview [role=alert]').textContent()).toMatch(/64 hex digits/);

    await page.getByRole('button', { name: `Lift revocation ${made!.id}` }).click();
    await page.getByRole('button', { name: `Yes, lift revocation ${made!.id}` }).click();
    await expect.poll(() => rowOf(page, 'revocations', made!.id).getAttribute('data-state')).toBe('lifted');
    expect(await pull(NOTARY)).toBe(true);
  }, 120_000);
});
