import { describe, expect, it } from 'vitest';
import { OciError } from '../../../src/oci/errors.js';
import { failureHeaders, failureOf, headerText, withoutCredentials } from '../../../src/http/failure-info.js';

/** What a failed request says about itself in headers and its log line: readable, one line, no secrets. */
describe('failure info', () => {
  it('keeps a header value to one line of visible ASCII of at most 512 characters', () => {
    expect(headerText('line one\nline two\r\n\tü€ end')).toBe('line one line two end');
    const long = headerText(`${'a'.repeat(600)}`);
    expect(long).toHaveLength(512);
    expect(long.endsWith('...')).toBe(true);
  });

  it('drops credentials from URLs and authorization values', () => {
    expect(withoutCredentials('GET https://bob:hunter2@registry.example/v2/ failed')).toBe('GET https://registry.example/v2/ failed');
    expect(withoutCredentials('sent Authorization: Bearer eyJhbGciOi.abc-def and Basic Ym9iOmh1bnRlcjI=')).toBe(
      'sent Authorization: Bearer [redacted] and Basic [redacted]',
    );
  });

  it('names the rule and reasons of a denial, and the first reason in the header', () => {
    const f = failureOf(new OciError('DENIED', 'portcullis: policy "signed": no signature', { policy: 'signed', reasons: ['no signature', 'too old'] }));
    expect(f).toEqual({ code: 'DENIED', error: 'portcullis: policy "signed": no signature', rule: 'signed', reasons: ['no signature', 'too old'] });
    expect(failureHeaders(f)).toEqual({ 'X-Portcullis-Reason': 'no signature', 'X-Portcullis-Rule': 'signed' });
    const upstream = failureOf(new OciError('UPSTREAM_UNAVAILABLE', 'upstream x unreachable: connect ECONNREFUSED'));
    expect(failureHeaders(upstream)).toEqual({ 'X-Portcullis-Reason': 'upstream x unreachable: connect ECONNREFUSED' });
  });
});
