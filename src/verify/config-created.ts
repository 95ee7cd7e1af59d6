import type { ArtifactSource, SubjectManifest } from './types.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;

/** The image config's `created` (image manifests only; an index has no config). Never throws. */
export async function readConfigCreated(subject: SubjectManifest, source: ArtifactSource): Promise<{ created?: string; error?: string }> {
  const config = subject.parsed.config;
  if (subject.parsed.isIndex || !config) return {};
  if (config.size > MAX_CONFIG_BYTES) return { error: `config is ${config.size} bytes; the limit is ${MAX_CONFIG_BYTES}` };
  try {
    const doc = JSON.parse((await source.blob(config.digest, MAX_CONFIG_BYTES)).toString('utf8'));
    const created = doc?.created;
    if (typeof created !== 'string' || Number.isNaN(Date.parse(created))) return {};
    return { created };
  } catch (err) {
    return { error: `config ${config.digest}: ${(err as Error).message}` };
  }
}
