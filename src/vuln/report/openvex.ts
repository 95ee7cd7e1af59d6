import type { VexFacts, VexStatement, VexStatus } from './types.js';
import { array, isoTime, object, str } from './fields.js';
import { clean } from './trivy.js';
import { ReportError } from './types.js';

const STATUSES: readonly VexStatus[] = ['not_affected', 'affected', 'fixed', 'under_investigation'];
/** Statements kept from one document. */
const MAX_STATEMENTS = 100_000;

/**
 * An OpenVEX document (v0.2.0, and the v0.0.1 form where `vulnerability` and `products` are plain strings).
 * A `not_affected` statement must say why (a justification or an impact statement), as the spec requires.
 */
export function openVexFacts(predicate: unknown): VexFacts {
  const doc = object(predicate, 'the OpenVEX document');
  const docTime = isoTime(doc.timestamp);
  const statements: VexStatement[] = [];
  for (const [i, raw] of array(doc.statements, 'OpenVEX statements').entries()) {
    const s = object(raw, `statements[${i}]`);
    const v = s.vulnerability;
    const vulnerability = typeof v === 'string' ? v : str(v?.name) ?? str(v?.['@id']);
    if (!vulnerability) throw new ReportError(`statements[${i}] names no vulnerability`);
    if (!STATUSES.includes(s.status)) throw new ReportError(`statements[${i}].status ${JSON.stringify(s.status)} is not one of ${STATUSES.join(', ')}`);
    const products = array(s.products ?? [], `statements[${i}].products`)
      .map((p: any) => (typeof p === 'string' ? p : str(p?.['@id']) ?? str(p?.identifiers?.purl)))
      .filter((p): p is string => p !== undefined);
    const justification = str(s.justification);
    const impactStatement = str(s.impact_statement);
    if (s.status === 'not_affected' && !justification && !impactStatement) {
      throw new ReportError(`statements[${i}] is not_affected without a justification or impact_statement`);
    }
    const aliases = typeof v === 'object' && v && Array.isArray(v.aliases) ? v.aliases.filter((a: unknown) => typeof a === 'string') : [];
    statements.push(clean({ vulnerability, aliases, products, status: s.status as VexStatus, justification, impactStatement, timestamp: isoTime(s.timestamp) ?? docTime }));
    if (statements.length > MAX_STATEMENTS) throw new ReportError(`the document has more than ${MAX_STATEMENTS} statements`);
  }
  return clean({ author: str(doc.author), timestamp: docTime, statements });
}
