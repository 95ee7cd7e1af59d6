import { isDigest } from './digest.js';
import { MEDIA_TYPES } from './media-types.js';

/**
 * What an artifact's blob must be to pass as the type its descriptor claims. A layer that claims a signature,
 * attestation or SBOM type but holds anything else (a tar.gz layer, an image manifest, an image config) is
 * not an artifact: the manifest listing it is judged as an image on its own digest. Each function returns why
 * the bytes are not what they claim, or undefined when they are.
 */

const SIGNATURE_TYPE = 'cosign container image signature';
const UTF8 = new TextDecoder('utf-8', { fatal: true });

type Check = (bytes: Buffer) => string | undefined;

const json = (what: string, shape: (doc: Record<string, unknown>) => boolean): Check => (bytes) => {
  const doc = parseJson(bytes);
  return doc !== undefined && isRecord(doc) && shape(doc) ? undefined : `not ${what}`;
};

const text = (what: string, shape: (s: string) => boolean): Check => (bytes) => {
  const s = decodeText(bytes);
  return s !== undefined && shape(s) ? undefined : `not ${what}`;
};

const simpleSigning = json('simple-signing JSON', (d) => {
  const critical = d.critical;
  if (!isRecord(critical) || critical.type !== SIGNATURE_TYPE || !isRecord(critical.image)) return false;
  const named = critical.image['docker-manifest-digest'];
  return typeof named === 'string' && isDigest(named);
});

const isEnvelope = (d: Record<string, unknown>) =>
  typeof d.payloadType === 'string' && typeof d.payload === 'string' && isBase64(d.payload) && Array.isArray(d.signatures) &&
  d.signatures.length > 0 && d.signatures.every((s) => isRecord(s) && typeof s.sig === 'string');
const isStatement = (d: Record<string, unknown>) =>
  typeof d._type === 'string' && d._type.startsWith('https://in-toto.io/Statement/') && Array.isArray(d.subject) && typeof d.predicateType === 'string';

const dsse = json('a DSSE envelope', isEnvelope);
const inToto = json('an in-toto statement or DSSE envelope', (d) => isEnvelope(d) || isStatement(d));
const bundle = json('a Sigstore bundle', (d) =>
  typeof d.mediaType === 'string' && d.mediaType.startsWith('application/vnd.dev.sigstore.bundle') && isRecord(d.verificationMaterial) &&
  (isRecord(d.messageSignature) || (isRecord(d.dsseEnvelope) && isEnvelope(d.dsseEnvelope))));
const spdxJson = json('SPDX JSON', (d) => typeof d.spdxVersion === 'string' && d.spdxVersion.startsWith('SPDX-'));
const spdxText = text('an SPDX tag-value document', (s) => /^\s*SPDXVersion:\s*SPDX-/.test(s));
const cyclonedxJson = json('CycloneDX JSON', (d) => d.bomFormat === 'CycloneDX');
const syftJson = json('Syft JSON', (d) => Array.isArray(d.artifacts) && isRecord(d.schema));
const xmlRoot = (what: string, root: RegExp) => text(what, (s) => root.test(stripXmlProlog(s)));
const cyclonedxXml = xmlRoot('CycloneDX XML', /^<(\w+:)?bom[\s>]/);
const spdxXml = xmlRoot('SPDX XML', /^<(\w+:)?(RDF|Document|SpdxDocument)[\s>]/);
const jws = json('a JWS (JSON serialization)', (d) =>
  typeof d.payload === 'string' && ((typeof d.protected === 'string' && typeof d.signature === 'string') || Array.isArray(d.signatures)));
/** A COSE_Sign1 message: CBOR tag 18 (0xd2) around an array of four (0x84). */
const coseSign1: Check = (bytes) => (bytes.length > 2 && bytes[0] === 0xd2 && bytes[1] === 0x84 ? undefined : 'not a COSE_Sign1 message');
const empty: Check = (bytes) => (isEmptyObject(bytes) ? undefined : 'not the empty JSON object {}');

/** Every artifact layer type and how its bytes are proven (compared bare and lower-case). */
const LAYER_CHECKS: ReadonlyMap<string, Check> = new Map<string, Check>([
  [MEDIA_TYPES.cosignSimpleSigning, simpleSigning],
  [MEDIA_TYPES.dsseEnvelope, dsse],
  [MEDIA_TYPES.sigstoreBundleV03, bundle],
  ['application/vnd.dev.sigstore.bundle+json', bundle],
  ['application/vnd.in-toto+json', inToto],
  [MEDIA_TYPES.ociEmpty, empty],
  ['text/spdx', spdxText],
  ['text/spdx+json', spdxJson],
  ['application/spdx+json', spdxJson],
  ['text/spdx+xml', spdxXml],
  ['application/vnd.cyclonedx+json', cyclonedxJson],
  ['application/vnd.cyclonedx', cyclonedxXml],
  ['application/vnd.cyclonedx+xml', cyclonedxXml],
  ['application/vnd.syft+json', syftJson],
  ['application/jose+json', jws],
  ['application/cose', coseSign1],
]);

/** Why a layer's bytes are not the artifact type it claims; undefined when they are. */
export function disproveLayer(mediaType: string, bytes: Buffer): string | undefined {
  const check = LAYER_CHECKS.get(bare(mediaType));
  return check ? check(bytes) : `"${mediaType.slice(0, 80)}" is not an artifact type`;
}

/**
 * Why a config is not an artifact's config; undefined when it is. An artifact's config is the empty object
 * (`application/vnd.oci.empty.v1+json`, notation's and oras's config types), or cosign's image config: no
 * platform, no process, and a rootfs that is exactly the artifact's own (proven) layers. An image config of
 * a runnable image names the diff IDs of its tar layers, which no proven artifact layer can match.
 */
export function disproveConfig(config: { mediaType: string }, bytes: Buffer, layers: readonly { digest: string }[]): string | undefined {
  if (isEmptyObject(bytes)) return undefined;
  const type = bare(config.mediaType);
  if (type !== MEDIA_TYPES.ociConfig && type !== MEDIA_TYPES.dockerConfig) return `config "${config.mediaType.slice(0, 80)}" is not the empty object {}`;
  const doc = parseJson(bytes);
  if (!isRecord(doc)) return 'config is not a JSON object';
  if ((doc.os ?? '') !== '' || (doc.architecture ?? '') !== '') return 'config names a platform, as a runnable image does';
  if (doc.config !== undefined && doc.config !== null && !(isRecord(doc.config) && Object.keys(doc.config).length === 0)) {
    return 'config sets a process, as a runnable image does';
  }
  const rootfs = doc.rootfs;
  const diffIds = isRecord(rootfs) ? rootfs.diff_ids : undefined;
  const ids = diffIds === null || diffIds === undefined ? [] : diffIds;
  if (!Array.isArray(ids) || ids.length !== layers.length || ids.some((id, i) => id !== layers[i]!.digest)) {
    return "config's rootfs is not the artifact's own layers";
  }
  return undefined;
}

function bare(mediaType: string): string {
  return mediaType.split(';')[0]!.trim().toLowerCase();
}

function parseJson(bytes: Buffer): unknown {
  const s = decodeText(bytes);
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** Strict UTF-8 without NUL bytes: binary content (gzip, tar, CBOR) is not text. */
function decodeText(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

function stripXmlProlog(s: string): string {
  return s.replace(/^\uFEFF?\s*(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*/, '');
}

function isEmptyObject(bytes: Buffer): boolean {
  const doc = parseJson(bytes);
  return isRecord(doc) && Object.keys(doc).length === 0;
}

function isBase64(s: string): boolean {
  return /^[A-Za-z0-9+/_-]*={0,2}$/.test(s);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
