/**
 * The import rule of src/ (docs/architecture.md). Rooms are listed top to bottom: a module may import its own
 * room and the rooms of lower layers, never a room of its own layer or one above. No circular imports at all.
 * test/unit/architecture.test.ts runs this with dependency-cruiser and names every import that breaks it;
 * `npx depcruise src` prints the same.
 */

/** Top to bottom. Each inner list is one layer; its rooms do not import each other. */
const layers = [
  [['cli', '^src/cli\\.ts$']],
  [['commands', '^src/commands/']],
  // Export and import of OCI layout archives, driven through the composed app's pull path.
  [['transfer', '^src/transfer/']],
  [['main', '^src/(main|startup-line|listen-error)\\.ts$']],
  // The composition root and the subsystems it composes.
  [['app', '^src/(app\\.ts|app/|startup-report\\.ts)']],
  // Reading a config file validates all of it: policies, trust roots, the checkpoint key.
  [['config-load', '^src/config/load\\.ts$']],
  [['api', '^src/api/']],
  // Fetching whole images ahead of pulls (the CLI and the schedule), through the pull orchestrator.
  [['prefetch', '^src/prefetch/']],
  // Webhook notifications: an outbox over the audit log, delivered by the upkeep process.
  [['notify', '^src/notify/']],
  // Bearer tokens and pull credentials, for both the admin API and /v2; it uses the plain HTTP helpers.
  [['auth', '^src/auth/']],
  [['http', '^src/http/']],
  // The orchestrator: resolve, fetch, decide, audit, serve.
  [['pull', '^src/pull/']],
  // The one room that turns (target, manifest, time) into a decision.
  [['decide', '^src/decide/']],
  // Supervisor, worker bus, and the process identity that leases name.
  [['cluster', '^src/cluster/']],
  [['store', '^src/store/'], ['upstream', '^src/upstream/']],
  // Append-only, hash-chained events, read and written through the database seam.
  [['audit', '^src/audit/']],
  // The database seam. It stores policies, exceptions and revocations in the policy's own shapes.
  [['db', '^src/db/']],
  // The vulnerability gate: a rule's `vulnerabilities` block judged on verified scans, VEX and exceptions.
  [['vuln', '^src/vuln/(?!report/)']],
  // Pure: (rule, subject, evidence) -> outcome. It reads the evidence verify produces.
  [['policy', '^src/policy/']],
  // Bytes -> evidence; takes its trust material and its sources as input.
  [['verify', '^src/verify/']],
  // Scan and VEX reports (Trivy, Grype, in-toto vulns, OpenVEX) reduced to compact facts; pure.
  [['vuln-report', '^src/vuln/report/']],
  [['config', '^src/config/']],
  [['oci', '^src/oci/']],
  [
    ['logger', '^src/logger\\.ts$'],
    ['process-alive', '^src/process-alive\\.ts$'],
    ['metrics', '^src/metrics\\.ts$'],
    ['text', '^src/text/'],
    ['version', '^src/version\\.ts$'],
  ],
];

/**
 * Imports that break the layering today and cannot move yet. Each says why; any other climb fails.
 * `typeOnly`: only `import type` is excused.
 */
const knownExceptions = [
  {
    from: '^src/db/(policy-versions|trust-changes)\\.ts$',
    to: '^src/audit/audit-log\\.ts$',
    why: 'Policy and trust changes write their audit event in the same transaction, sealed here. Both are services ' +
      'over the database seam that belong above audit; they move once the stores settle.',
  },
  {
    from: '^src/config/types\\.ts$',
    to: '^src/policy/types\\.ts$',
    typeOnly: true,
    why: 'The config carries the policy rules, whose shape is the policy\'s own (policy/types.ts imports nothing).',
  },
];

const rooms = layers.flat();
// config-load is the one file of config/ that sits higher; the lower config room must not claim it.
const pathOf = (room) => (room[0] === 'config' ? '^src/config/(?!load\\.ts$)' : room[1]);

const layerRules = layers.flatMap((layer, i) =>
  layer.map((room) => {
    const [name] = room;
    const above = layers
      .slice(0, i + 1)
      .flat()
      .filter((other) => other[0] !== name);
    return { name, path: pathOf(room), forbiddenTo: above.map(pathOf).join('|'), above: above.map((r) => r[0]) };
  }),
).filter((r) => r.above.length > 0);

const exceptionSources = knownExceptions.map((e) => e.from);

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'Imports run one way; a circle means a type or function belongs lower down.',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'room-unknown',
    severity: 'error',
    comment: 'Every module of src/ belongs to a room listed in .dependency-cruiser.cjs; place a new room in the order.',
    from: { path: '^src/', pathNot: rooms.map(pathOf).join('|') },
    to: {},
  },
  {
    name: 'room-unknown',
    severity: 'error',
    comment: 'Every module of src/ belongs to a room listed in .dependency-cruiser.cjs; place a new room in the order.',
    from: { path: '^src/' },
    to: { path: '^src/', pathNot: rooms.map(pathOf).join('|') },
  },
  ...layerRules.map((r) => ({
    name: `layer-${r.name}`,
    severity: 'error',
    comment: `${r.name} may not import a room of its own layer or above: ${r.above.join(', ')}`,
    from: exceptionSources.length > 0 ? { path: r.path, pathNot: exceptionSources.join('|') } : { path: r.path },
    to: { path: r.forbiddenTo },
  })),
  // A file with a known exception is held to its room's rule for every other import.
  ...[...new Set(exceptionSources)].flatMap((from) => {
    const excused = knownExceptions.filter((e) => e.from === from);
    return layerRules
      .filter((r) => new RegExp(r.path).test(sourceExample(from)))
      .flatMap((r) => [
        {
          name: `layer-${r.name}`,
          severity: 'error',
          comment: `${r.name} may not import a room of its own layer or above: ${r.above.join(', ')}`,
          from: { path: from },
          to: { path: r.forbiddenTo, pathNot: excused.map((e) => e.to).join('|') },
        },
        ...excused
          .filter((e) => e.typeOnly)
          .map((e) => ({
            name: `layer-${r.name}`,
            severity: 'error',
            comment: `the known exception ${from} -> ${e.to} excuses type imports only: ${e.why}`,
            from: { path: from },
            to: { path: e.to, dependencyTypesNot: ['type-only'] },
          })),
      ]);
  }),
];

/** A path the exception's pattern stands for, to find the room it is in. */
function sourceExample(pattern) {
  return pattern.replace(/^\^/, '').replace(/\\\./g, '.').replace(/\$$/, '').replace(/\(([^|)]*)[^)]*\)/g, '$1');
}

module.exports = {
  forbidden,
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
