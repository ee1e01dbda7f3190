// `npm run test:sdk-pack` (part of `npm test`): the SDK as its users get it. Builds libs/sdk, packs it
// (npm pack), installs the tarball into an empty project in a temporary folder (offline: the SDK has no
// dependencies), then, in that project only, type-checks a TypeScript consumer against the installed
// declarations and runs a smoke test against a fake Verdict server on 127.0.0.1: every published
// assignment vector (libs/assignment/core/vectors.json) assigned locally, an outcome tracked and an
// exposure sent. Nothing here imports the SDK's sources.
//   node scripts/sdk-pack-smoke.mjs [--keep]   (--keep leaves the temporary project for a look)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const sdk = join(root, 'libs', 'sdk');
const work = mkdtempSync(join(tmpdir(), 'verdict-sdk-pack-'));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

try {
  // 1. Build and pack, as a release would.
  rmSync(join(sdk, 'dist'), { recursive: true, force: true });
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(sdk, 'tsconfig.json')], root);
  const packed = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', work], sdk))[0];
  const files = packed.files.map((f) => f.path);
  for (const required of ['package.json', 'README.md', 'dist/sdk/src/index.js', 'dist/sdk/src/index.d.ts', 'dist/sdk/src/openfeature.js', 'dist/assignment/core/assign.js']) {
    if (!files.includes(required)) throw new Error(`the tarball lacks ${required}`);
  }
  if (files.some((f) => f.endsWith('.spec.js') || f.includes('/testing/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))) {
    throw new Error(`the tarball ships tests or sources: ${files.filter((f) => f.includes('spec') || f.includes('testing')).join(', ')}`);
  }

  // 2. An empty project that installs the tarball.
  const app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sdk-smoke', version: '1.0.0', private: true }, null, 2));
  run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', join(work, packed.filename)], app);
  const installed = readdirSync(join(app, 'node_modules'));
  if (installed.filter((d) => !d.startsWith('.')).join(',') !== '@verdict') throw new Error(`installing the SDK brought more than itself: ${installed.join(', ')}`);

  // 3. The declarations as a TypeScript user compiles against them.
  writeFileSync(
    join(app, 'consumer.ts'),
    `import { createClient, type Assignment, type OutcomeInput } from '@verdict/sdk';
const client = createClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', refresh: { mode: 'none' } });
const a: Assignment = client.assign('e', 'u');
const o: OutcomeInput = { experiment: 'e', unitId: 'u', latencyMs: 1, success: a.inExperiment };
export const id: string = client.track(o);
`,
  );
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: [] }, files: ['consumer.ts'] }));
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(app, 'tsconfig.json')], app);

  // 4. The smoke test, run from the project with the installed package only.
  writeFileSync(join(app, 'vectors.json'), run('cat', [join(root, 'libs', 'assignment', 'core', 'vectors.json')], root));
  writeFileSync(
    join(app, 'smoke.cjs'),
    `'use strict';
const http = require('node:http');
const assert = require('node:assert/strict');
const { createClient } = require('@verdict/sdk');
const vectors = require('./vectors.json');

const snapshot = { version: 'v1', generatedAt: new Date().toISOString(), experiments: vectors.experiments.map(({ ranges, ...e }) => e) };
const received = { outcomes: [], exposures: [] };
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.headers.authorization !== 'Bearer smoke-key') return res.writeHead(401).end();
    if (req.method === 'GET' && req.url === '/v1/sdk/config') return res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' }).end(JSON.stringify(snapshot));
    if (req.method === 'POST' && (req.url === '/v1/outcomes' || req.url === '/v1/exposures')) {
      const parsed = JSON.parse(body);
      const items = parsed.events ?? parsed.exposures;
      received[req.url === '/v1/outcomes' ? 'outcomes' : 'exposures'].push(...items);
      return res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: items.length, rejected: [] }));
    }
    res.writeHead(404).end();
  });
});

server.listen(0, '127.0.0.1', async () => {
  const client = createClient({ baseUrl: 'http://127.0.0.1:' + server.address().port, apiKey: 'smoke-key', refresh: { mode: 'none' }, flushOnExit: false });
  try {
    assert.deepEqual(await client.ready(), { source: 'service', version: 'v1' });
    for (const c of vectors.cases) {
      const a = client.assign(c.experiment, c.unitId);
      assert.deepEqual({ variant: a.variant, inExperiment: a.inExperiment, reason: a.reason, phase: a.phase }, c.expected, c.experiment + ' / ' + c.unitId);
    }
    const first = vectors.cases.find((c) => c.expected.inExperiment);
    const id = client.track({ experiment: first.experiment, unitId: first.unitId, latencyMs: 120, success: true, inputTokens: 10, outputTokens: 5 });
    assert.equal(await client.flush(), true);
    const event = received.outcomes.find((e) => e.id === id);
    assert.ok(event, 'the tracked outcome reached the server');
    assert.equal(event.variant, first.expected.variant);
    assert.ok(received.exposures.some((e) => e.experiment === first.experiment && e.unitId === first.unitId), 'the exposure reached the server');
    assert.equal(await client.close(), true);
    console.log('sdk smoke: ' + vectors.cases.length + ' vectors assigned, ' + received.outcomes.length + ' outcome(s) and ' + received.exposures.length + ' exposure(s) delivered');
  } finally {
    server.close();
  }
});
`,
  );
  process.stdout.write(run(process.execPath, ['smoke.cjs'], app));
  console.log(`sdk pack: ${packed.filename}, ${files.length} files, ${packed.size} bytes packed; installed offline into an empty project and type-checked`);
} finally {
  if (process.argv.includes('--keep')) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
