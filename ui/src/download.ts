import { request } from './api.js';

/**
 * Saves an API export through a Blob and a download link: the request carries the Authorization header,
 * which a plain link could not.
 */
export async function downloadExport(path: string, filename: string): Promise<void> {
  const res = await request('GET', path);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
