/* global module */
/**
 * The architecture's rules (docs/adr/0020), checked by `npm run arch` (part of `npm test`):
 * scripts/check-architecture.mjs runs dependency-cruiser's API with this file, because its CLI
 * refuses Node 20, which this project supports. With Node 22+, `npx depcruise apps libs` reads it too.
 */
const SPEC = '\\.spec\\.ts$';
module.exports = {
  forbidden: [
    {
      name: 'libs-never-import-apps',
      comment: 'Apps are thin shells over the contexts; a lib importing an app inverts the direction (apps -> contexts -> pure libs).',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'stats-is-pure',
      comment: 'libs/stats: plain numbers in, plain objects out. Only @stdlib, simple-statistics and its own files (libs/stats/README.md).',
      severity: 'error',
      from: { path: '^libs/stats/', pathNot: [SPEC, '^libs/stats/reference-cases\\.ts$'] },
      to: { pathNot: ['^libs/stats/', '^node_modules/(@stdlib/|simple-statistics/)'] },
    },
    {
      name: 'assignment-core-is-pure',
      comment: 'libs/assignment/core ships in the SDK: no I/O, no framework, nothing outside itself.',
      severity: 'error',
      from: { path: '^libs/assignment/core/', pathNot: [SPEC, '^libs/assignment/core/generate-vectors\\.ts$'] },
      to: { pathNot: ['^libs/assignment/core/'] },
    },
    {
      name: 'metric-registry-is-pure',
      comment: 'libs/metrics is read by every context: plain data, no imports (docs/adr/0019).',
      severity: 'error',
      from: { path: '^libs/metrics/', pathNot: [SPEC] },
      to: { pathNot: ['^libs/metrics/'] },
    },
    {
      name: 'storable-is-pure',
      comment: 'libs/storable is what Postgres can hold, shared by the API, the worker and the SDK (docs/adr/0015): no imports.',
      severity: 'error',
      from: { path: '^libs/storable/', pathNot: [SPEC] },
      to: { pathNot: ['^libs/storable/'] },
    },
    {
      name: 'sdk-imports-only-the-assignment-core',
      comment: 'The SDK is its own package: of this repository it compiles in the assignment core and the storable definition (libs/storable), nothing else.',
      severity: 'error',
      from: { path: '^libs/sdk/src/', pathNot: [SPEC, '^libs/sdk/src/testing/'] },
      to: { path: '^(apps|libs|test|bench|migrations|scripts)/', pathNot: ['^libs/sdk/', '^libs/assignment/core/', '^libs/storable/'] },
    },
    {
      name: 'sdk-has-no-framework-dependencies',
      comment: 'The SDK depends on nothing from npm but its optional OpenFeature peer.',
      severity: 'error',
      from: { path: '^libs/sdk/src/', pathNot: [SPEC, '^libs/sdk/src/testing/'] },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'], pathNot: ['^node_modules/@openfeature/'] },
    },
    {
      name: 'infrastructure-imports-no-context',
      comment: 'config, database, redis, bus, queue, logging, errors and embedded serve every context and know none (each context registers its own entities).',
      severity: 'error',
      from: { path: '^libs/(config|database|redis|bus|queue|logging|errors|embedded)/' },
      to: { path: '^libs/(auth|audit|experiments|assignment|ingestion|analysis|reports|traffic|evaluation)/' },
    },
    {
      name: 'no-cycles-between-contexts',
      comment: 'Folders (contexts, apps) form no cycle: a cycle means two contexts are one, or a boundary is wrong.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^(apps|libs)/' },
      to: { circular: true },
    },
    {
      name: 'no-cycles-between-files',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    // node_modules is a symlink in worktrees: keep the package paths as imported (node_modules/...).
    preserveSymlinks: true,
  },
};
