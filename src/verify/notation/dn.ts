/**
 * X.500 distinguished names as Notation trust policies write them (`x509.subject: C=US, O=Acme, CN=release`,
 * RFC 4514 with `,` or `+` between attributes and `\` escapes), and as node:crypto prints a subject (one
 * attribute a line).
 */
export type DistinguishedName = Array<[type: string, value: string]>;

/** Parses an RFC 4514 DN; undefined when it does not parse (an empty part, a missing `=`). */
export function parseDn(text: string): DistinguishedName | undefined {
  const out: DistinguishedName = [];
  let part = '';
  const parts: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      part += ch + text[++i];
    } else if (ch === ',' || ch === '+') {
      parts.push(part);
      part = '';
    } else {
      part += ch;
    }
  }
  parts.push(part);
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) return undefined;
    const type = p.slice(0, eq).trim();
    const value = unescape(p.slice(eq + 1).trim());
    if (!type || !value) return undefined;
    out.push([type.toUpperCase(), value]);
  }
  return out.length ? out : undefined;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

/** node:crypto's subject (`C=US\nO=Acme\nCN=release`) as an RFC 4514 string, escaping what needs it. */
export function subjectString(nodeSubject: string): string {
  return nodeSubject
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const eq = line.indexOf('=');
      return `${line.slice(0, eq)}=${line.slice(eq + 1).replace(/([,+"\\<>;])/g, '\\$1')}`;
    })
    .join(', ');
}

/** Notation's rule: every attribute the policy names equals the subject's, in any order (a subset suffices). */
export function dnMatches(policy: DistinguishedName, subject: DistinguishedName): boolean {
  const left = [...subject];
  return policy.every(([type, value]) => {
    const at = left.findIndex(([t, v]) => t === type && v === value);
    if (at < 0) return false;
    left.splice(at, 1);
    return true;
  });
}
