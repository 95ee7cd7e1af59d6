import { describe, expect, it } from 'vitest';
import { validatePolicyRules } from '../../../src/policy/validate.js';

const KEYS = new Set(['acme-release', 'acme-scanner']);
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';

/** The rule from the issue, verbatim. */
const ISSUE_RULE = {
  name: 'acme',
  match: ['docker.io/acme/**'],
  mode: 'enforce',
  signatures: { anyOf: [{ key: 'acme-release' }] },
  attestations: [
    { name: 'sbom', predicateType: 'https://spdx.dev/Document', signedBy: { anyOf: [{ key: 'acme-release' }] } },
    { name: 'vuln-scan', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: 'predicate.scanner.result.summary.CRITICAL == 0' },
  ],
  condition: "image.config.User != '' && image.config.User != 'root' && !('22/tcp' in image.config.ExposedPorts)",
};

const withCondition = (condition: unknown) => [{ name: 'r', match: ['**'], mode: 'enforce', condition }];
const errorsOf = (rules: unknown) => validatePolicyRules(rules, KEYS).errors;

describe('validatePolicyRules: attestations and conditions', () => {
  it('accepts the rule from the issue, and a rule with only a condition', () => {
    expect(errorsOf([ISSUE_RULE])).toEqual([]);
    expect(errorsOf(withCondition("image.config.User != 'root'"))).toEqual([]);
  });

  it('reports a syntax error with its path and position', () => {
    expect(errorsOf(withCondition("image.config.User != 'root' &&"))).toEqual([
      { path: 'policies[0].condition', message: expect.stringMatching(/^syntax error at 1:\d+: /) },
    ]);
  });

  it('reports undeclared variables and fields, with a suggestion', () => {
    expect(errorsOf(withCondition("imgae.config.User != 'root'"))).toEqual([
      { path: 'policies[0].condition', message: "type error at 1:1: undeclared reference to 'imgae' (did you mean 'image'?)" },
    ]);
    expect(errorsOf(withCondition("image.config.user != 'root'"))[0]!.message).toBe(
      "type error at 1:13: image.config has no field 'user' (did you mean 'User'?)",
    );
    // `predicate` exists only in attestation conditions.
    expect(errorsOf(withCondition('predicate.x == 1'))[0]!.message).toMatch(/undeclared reference to 'predicate'/);
  });

  it('reports type errors: mismatched operands, wrong functions, a non-bool result', () => {
    const messages = [
      "image.config.User == 1",
      "size(image.layers) > 'three'",
      "image.config.Env.exists(e, e > 3)",
      "image.config.User.startsWith(1)",
      "image.config.User",
      "image.layers.all(l)",
      "lower(image.config.User) == 'root'",
      "image.config.User && true",
    ].map((c) => errorsOf(withCondition(c))[0]?.message);
    expect(messages).toEqual([
      "type error at 1:19: no matching overload for '=='(string, int)",
      "type error at 1:19: no matching overload for '>'(int, string)",
      "type error at 1:29: no matching overload for '>'(string, int)",
      'type error at 1:18: no matching overload for string.startsWith(int)',
      'must be a bool expression, not string',
      'type error at 1:13: all() takes a variable and a condition: list.all(x, x > 0)',
      "type error at 1:1: undeclared function 'lower'",
      "type error at 1:13: '&&' needs bool operands, not string",
    ]);
  });

  it('checks attestation entries: fields, signers, names and their conditions', () => {
    const errors = errorsOf([
      {
        ...ISSUE_RULE,
        attestations: [
          { name: 'sbom', predicateType: '', signedBy: { anyOf: [{ key: 'nope' }] }, extra: 1 },
          { name: 'sbom', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: 'predicate.summary.CRITICAL == 0 &&' },
          { name: 'typed', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: 'statement.predicateTyp == "x"' },
        ],
      },
    ]);
    expect(errors.map((e) => e.path)).toEqual([
      'policies[0].attestations[0].extra',
      'policies[0].attestations[0].predicateType',
      'policies[0].attestations[0].signedBy.anyOf[0].key',
      'policies[0].attestations[1].name',
      'policies[0].attestations[1].condition',
      'policies[0].attestations[2].condition',
    ]);
    expect(errors[4]!.message).toMatch(/^syntax error/);
    expect(errors[5]!.message).toBe("type error at 1:10: statement has no field 'predicateTyp' (did you mean 'predicateType'?)");
    expect(errorsOf([{ ...ISSUE_RULE, attestations: [] }])).toEqual([{ path: 'policies[0].attestations', message: 'must be a non-empty array of attestation requirements' }]);
  });

  it('limits condition size and refuses non-string conditions', () => {
    expect(errorsOf(withCondition(`image.config.User == '${'x'.repeat(5000)}'`))[0]!.message).toMatch(/characters; the limit is 4096/);
    expect(errorsOf(withCondition(`${'1 + '.repeat(60)}1 > 0`))[0]!.message).toMatch(/^type error at 1:\d+: expression nests more than 48 levels deep$/);
    expect(errorsOf(withCondition(true))).toEqual([{ path: 'policies[0].condition', message: 'must be a CEL expression string' }]);
  });
});
