import type { ImageConfigFacts, ImageFacts, SubjectManifest, ArtifactSource } from './types.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Layers listed in image facts; more than any real image has (the overlay limit is 128). */
export const MAX_FACT_LAYERS = 1000;

/**
 * What the manifest and its image config say about the image (config `created`, `config`, platform), for
 * freshness and policy conditions. An index has no config: its facts are the manifest's. Never throws.
 */
export async function readImageFacts(subject: SubjectManifest, source: ArtifactSource): Promise<{ facts: ImageFacts; created?: string; error?: string }> {
  const parsed = subject.parsed;
  const facts: ImageFacts = {
    mediaType: parsed.mediaType,
    annotations: parsed.annotations ?? {},
    layers: parsed.layers.slice(0, MAX_FACT_LAYERS).map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  };
  const config = parsed.config;
  if (parsed.isIndex || !config) return { facts };
  if (config.size > MAX_CONFIG_BYTES) return { facts, error: `config is ${config.size} bytes; the limit is ${MAX_CONFIG_BYTES}` };
  let doc: any;
  try {
    doc = JSON.parse((await source.blob(config.digest, MAX_CONFIG_BYTES)).toString('utf8'));
  } catch (err) {
    return { facts, error: `config ${config.digest}: ${(err as Error).message}` };
  }
  if (!isObject(doc)) return { facts, error: `config ${config.digest} is not a JSON object` };
  facts.config = configFacts(isObject(doc.config) ? doc.config : {});
  facts.platform = { os: str(doc.os), architecture: str(doc.architecture), variant: str(doc.variant) };
  const created = typeof doc.created === 'string' && !Number.isNaN(Date.parse(doc.created)) ? doc.created : undefined;
  if (created) facts.created = created;
  return created ? { facts, created } : { facts };
}

function configFacts(c: Record<string, unknown>): ImageConfigFacts {
  return {
    User: str(c.User),
    ExposedPorts: keySet(c.ExposedPorts),
    Env: strings(c.Env),
    Entrypoint: strings(c.Entrypoint),
    Cmd: strings(c.Cmd),
    Labels: stringMap(c.Labels),
    WorkingDir: str(c.WorkingDir),
    Volumes: keySet(c.Volumes),
    StopSignal: str(c.StopSignal),
  };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** `null` (Docker writes it for an empty list) and non-strings are dropped. */
function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Docker's set-as-object shape (`{"80/tcp": {}}`); values carry nothing. */
function keySet(v: unknown): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  if (isObject(v)) for (const k of Object.keys(v)) out[k] = {};
  return out;
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
