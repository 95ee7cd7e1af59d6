// Rule matching on the hot path: every request matches its canonical name against the rules in order.
// `node bench/match.mjs` (after a build) times matchRule over a policy of 50 rules of the usual shapes.
import { matchRule } from '../dist/policy/match.js';

const rules = [];
for (let i = 0; i < 12; i++) rules.push({ name: `team${i}`, match: [`docker.io/team${i}/**`, `ghcr.io/team${i}/*`], mode: 'allow' });
for (let i = 0; i < 12; i++) rules.push({ name: `app${i}`, match: [`registry.internal/platform/app${i}-*`], mode: 'allow' });
for (let i = 0; i < 12; i++) rules.push({ name: `lib${i}`, match: [`docker.io/library/lib${i}?`, `quay.io/org${i}/**/img`], mode: 'allow' });
for (let i = 0; i < 12; i++) rules.push({ name: `mirror${i}`, match: [`mirror${i}.example.com/**`], mode: 'allow' });
rules.push({ name: 'k8s', match: ['registry.k8s.io/**'], mode: 'allow' });
rules.push({ name: 'rest', match: ['**/*-debug'], mode: 'deny' });
// The active policy is deep-frozen, as PolicyVersions keeps it.
for (const r of rules) Object.freeze(Object.freeze(r).match);
Object.freeze(rules);

const names = [
  'docker.io/team0/app',                        // first rule
  'registry.internal/platform/app11-api',       // middle
  'quay.io/org7/a/b/c/img',                     // later, needs '**/'
  'registry.k8s.io/pause',                      // near the end
  'docker.io/someone/thing-debug',              // last rule
  'docker.io/nobody/matches/this/name',         // no rule: scans all 50
];

const ROUNDS = Number(process.env.ROUNDS ?? 200_000);
for (const n of names) matchRule(rules, n); // compile and warm
let total = 0;
for (const name of names) {
  const t0 = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < ROUNDS; i++) if (matchRule(rules, name)) hits++;
  const ns = Number(process.hrtime.bigint() - t0) / ROUNDS;
  total += ns;
  console.log(`${name.padEnd(40)} ${(ns / 1000).toFixed(3)} µs per request (${matchRule(rules, name)?.name ?? 'no rule'})`);
}
console.log(`mean ${(total / names.length / 1000).toFixed(3)} µs per request over ${rules.length} rules`);

// A glob and a name chosen to make a backtracking matcher take exponential time.
const hostile = [{ name: 'hostile', match: ['docker.io/**-**-**-**-**-**-**-**-x'], mode: 'deny' }];
const long = `docker.io/${Array.from({ length: 60 }, () => 'a-a').join('/')}`;
const t0 = process.hrtime.bigint();
matchRule(hostile, long);
console.log(`hostile glob, 60-segment name: ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3)} ms`);
