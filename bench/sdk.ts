/**
 * SDK assignment throughput: `client.assign` (local evaluation, exposure dedup and
 * hook included) against a bare hash-and-pick loop in the same run (the reference,
 * target ratio >= 0.5) and against GrowthBook's JavaScript SDK evaluating the same
 * 50/50 experiment (target >= 2x).
 *
 * Run from the repository root (TypeScript compiled on the fly by SWC, as bench/ingest.ts):
 *
 *   node -r ./scripts/register-swc.cjs bench/sdk.ts
 *
 * (package.json script: "bench:sdk": "node -r ./scripts/register-swc.cjs bench/sdk.ts")
 *
 * Env: BENCH_UNITS (distinct unit ids, default 10 000), BENCH_ITERATIONS (per round, default 2 000 000).
 */
import { Experiment, GrowthBookClient } from '@growthbook/growthbook';
import { SnapshotIndex } from '../libs/assignment/core/assign';
import { createClient } from '../libs/sdk/src/index';
import type { ConfigSnapshot } from '../libs/sdk/src/types';

const UNITS = Number(process.env.BENCH_UNITS ?? 10_000);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2_000_000);
const ROUNDS = 5;
const SALT = 'bench-salt-2f9c';
const units = Array.from({ length: UNITS }, (_, i) => `user-${i}`);

const snapshot: ConfigSnapshot = {
  version: 'bench',
  generatedAt: new Date().toISOString(),
  experiments: [
    {
      key: 'model-ab',
      salt: SALT,
      unitType: 'user',
      state: 'running',
      phase: 1,
      trafficAllocation: 1,
      variants: [
        { key: 'control', weight: 0.5, isControl: true, rolledBack: false, config: { model: 'big' } },
        { key: 'treatment', weight: 0.5, isControl: false, rolledBack: false, config: { model: 'small' } },
      ],
      forced: {},
      winner: null,
      layer: null,
    },
  ],
};

// The reference: the least a hashing assignment can do. Textbook murmur3 over the
// concatenated string (ASCII ids only), bucket, linear pick from cumulative edges.
const bareEdges = [5000, 10000];
const bareVariants = ['control', 'treatment'];
function bareAssign(unitId: string): string {
  const s = `${SALT}.${unitId}`;
  let h = 0;
  const len = s.length;
  const blocks = len & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rem = len & 3;
  if (rem === 3) k ^= s.charCodeAt(i + 2) << 16;
  if (rem >= 2) k ^= s.charCodeAt(i + 1) << 8;
  if (rem >= 1) {
    k ^= s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  const bucket = Math.floor(((h >>> 0) * 10000) / 4294967296);
  for (let j = 0; j < bareEdges.length; j++) if (bucket < bareEdges[j]) return bareVariants[j];
  return bareVariants[0];
}

function rate(label: string, fn: (unitId: string) => string | null, iterations = ITERATIONS): number {
  let sink = 0;
  const n = units.length;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if (fn(units[i % n]) === 'treatment') sink++;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) console.log(label); // keeps `sink` alive
  return iterations / seconds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  // Offline client: the stub answers 304 for config and 202 for exposure batches.
  let exposures = 0;
  const client = createClient({
    baseUrl: 'http://bench.invalid',
    apiKey: 'bench',
    snapshot,
    refresh: { mode: 'none' },
    flushOnExit: false,
    hooks: { onAssignment: () => void exposures++ },
    fetch: async (input) =>
      String(input).endsWith('/v1/sdk/config') ? new Response(null, { status: 304 }) : new Response('{"accepted":0,"rejected":[]}', { status: 202 }),
  });
  await client.ready();
  const index = new SnapshotIndex(snapshot);

  const gb = new GrowthBookClient();
  await gb.init({ payload: { features: {} } });
  const gbExperiment: Experiment<string> = { key: 'model-ab', variations: ['control', 'treatment'], weights: [0.5, 0.5], coverage: 1, hashAttribute: 'id', seed: SALT };
  const gbContexts = new Map(units.map((id) => [id, { attributes: { id } }]));
  const gbIterations = Math.max(10_000, Math.floor(ITERATIONS / 10));

  const results: Record<string, number[]> = { bare: [], core: [], sdk: [], growthbook: [] };
  for (let round = 0; round < ROUNDS; round++) {
    results.bare.push(rate('bare', bareAssign));
    results.core.push(rate('core', (u) => index.assign('model-ab', u).variant));
    results.sdk.push(rate('sdk', (u) => client.assign('model-ab', u).variant));
    results.growthbook.push(rate('growthbook', (u) => gb.runInlineExperiment(gbExperiment, gbContexts.get(u)!).value, gbIterations));
  }
  await client.close();

  const bare = median(results.bare);
  const core = median(results.core);
  const sdk = median(results.sdk);
  const growthbook = median(results.growthbook);
  const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
  console.log(`units: ${UNITS} distinct, ${ITERATIONS} assignments per round, median of ${ROUNDS} rounds, node ${process.version}`);
  console.log(`bare hash-and-pick loop (reference): ${fmt(bare)}`);
  console.log(`core SnapshotIndex.assign:           ${fmt(core)}  (${(core / bare).toFixed(2)}x bare)`);
  console.log(`sdk client.assign (with exposures):  ${fmt(sdk)}  (${(sdk / bare).toFixed(2)}x bare)  exposures logged: ${exposures}`);
  console.log(`growthbook runInlineExperiment:      ${fmt(growthbook)}  (sdk is ${(sdk / growthbook).toFixed(1)}x growthbook)`);
  console.log(JSON.stringify({ bench: 'sdk', value: Math.round(sdk), unit: 'assignments/s', reference: Math.round(bare), ratio: Number((sdk / bare).toFixed(3)) }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
