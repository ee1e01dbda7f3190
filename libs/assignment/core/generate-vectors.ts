/**
 * Generates the published assignment test vectors, `vectors.json` beside this file.
 *
 * Run once (from the repository root) when the contract is first published; never
 * regenerate to make a failing test pass: the vectors ARE the contract that the server,
 * the SDK and any other implementation must reproduce.
 *
 *   npx tsc --ignoreConfig --outDir /tmp/verdict-vectors --rootDir . --module nodenext --target es2023 \
 *     --types node --skipLibCheck libs/assignment/core/generate-vectors.ts \
 *   && node /tmp/verdict-vectors/libs/assignment/core/generate-vectors.js libs/assignment/core/vectors.json
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { assign, variantRanges } from './assign';
import { ALLOCATION_SALT_SUFFIX, BUCKETS, HASH_SEED, LAYER_SALT_SUFFIX, bucketOf } from './bucket';
import { murmur3, utf8Bytes } from './murmur3';
import { ExperimentSnapshot, VariantSnapshot } from './snapshot';

const hex = (s: string) => Buffer.from(utf8Bytes(s)).toString('hex');

function variant(key: string, weight: number, extra: Partial<VariantSnapshot> = {}): VariantSnapshot {
  return { key, weight, isControl: false, rolledBack: false, config: { model: `model-${key}` }, ...extra };
}

function experiment(key: string, salt: string, extra: Partial<ExperimentSnapshot> = {}): ExperimentSnapshot {
  return {
    key,
    salt,
    unitType: 'user',
    state: 'running',
    phase: 1,
    trafficAllocation: 1,
    variants: [variant('control', 0.5, { isControl: true }), variant('treatment', 0.5)],
    forced: {},
    winner: null,
    layer: null,
    ...extra,
  };
}

const experiments: ExperimentSnapshot[] = [
  experiment('split-50-50', 'c0ffee-50-50'),
  experiment('ramp-5', 'c0ffee-ramp', {
    phase: 3,
    variants: [variant('control', 0.95, { isControl: true }), variant('treatment', 0.05)],
  }),
  // Weights that do not sum to 1 are normalised.
  experiment('three-way', 'c0ffee-three', {
    variants: [variant('a', 2, { isControl: true }), variant('b', 1), variant('c', 1)],
  }),
  // The control declared last still takes the bottom of the bucket space.
  experiment('control-last', 'c0ffee-last', {
    variants: [variant('fast', 0.3), variant('base', 0.7, { isControl: true })],
  }),
  experiment('allocation-30', 'c0ffee-alloc', { trafficAllocation: 0.3 }),
  experiment('layer-middle', 'c0ffee-layer', { layer: { key: 'llm-layer', start: 0.25, end: 0.75 } }),
  experiment('forced', 'c0ffee-forced', {
    variants: [variant('control', 0.5, { isControl: true }), variant('treatment', 0.3), variant('broken', 0.2, { rolledBack: true })],
    forced: { 'qa-alice': 'treatment', 'qa-bob': 'no-such-variant', 'qa-carol': 'broken', 'qa-dave': 'control' },
  }),
  experiment('rolled-back', 'c0ffee-rollback', {
    phase: 2,
    variants: [variant('control', 1, { isControl: true }), variant('good', 1), variant('broken', 1, { rolledBack: true })],
  }),
  experiment('paused', 'c0ffee-paused', { state: 'paused' }),
  experiment('stopped', 'c0ffee-stopped', { state: 'stopped' }),
  experiment('concluded', 'c0ffee-concluded', { state: 'concluded', winner: 'treatment' }),
];

const unitIds = [
  ...Array.from({ length: 24 }, (_, i) => `user-${i}`),
  '',
  'user-42',
  '12345',
  'Zürich-ß',
  'пользователь-7',
  '用户-42',
  'ユーザー',
  'emoji-😀-🚀',
  '👨‍👩‍👧',
  'lone-high-\uD800-x',
  '\uDC00lone-low',
  'x'.repeat(257),
  'qa-alice',
  'qa-bob',
  'qa-carol',
  'qa-dave',
];

const hashInputs: Array<[string, number]> = [
  ['', 0],
  ['', 1],
  ['a', 0],
  ['ab', 0],
  ['abc', 0],
  ['abcd', 0],
  ['user-42exp-1234', 1], // Optimizely's convention: murmur3(userId + experimentId, seed 1)
  ['c0ffee-50-50.user-1', 0],
  ['Zürich-ß', 0],
  ['emoji-😀', 0],
  ['lone-\uD800', 0],
];

const vectors = {
  description:
    'Verdict assignment test vectors. See libs/assignment/core/README.md for the algorithm. ' +
    'unitIdUtf8Hex gives the exact bytes hashed for the unit id (lone surrogates are U+FFFD).',
  hash: 'murmur3_x86_32',
  seed: HASH_SEED,
  buckets: BUCKETS,
  bucketFormula: 'floor(murmur3_x86_32(utf8(salt + "." + unitId), 0) * 10000 / 2^32)',
  allocationSalt: `experiment.salt + "${ALLOCATION_SALT_SUFFIX}"`,
  layerSalt: `layer.key + "${LAYER_SALT_SUFFIX}"`,
  hashVectors: hashInputs.map(([input, seed]) => ({ input, inputUtf8Hex: hex(input), seed, hash: murmur3(input, seed) })),
  experiments: experiments.map((e) => ({ ...e, ranges: variantRanges(e.variants) })),
  cases: experiments.flatMap((e) =>
    unitIds.map((unitId) => {
      const a = assign(e, e.key, unitId);
      return {
        experiment: e.key,
        unitId,
        unitIdUtf8Hex: hex(unitId),
        buckets: {
          variant: bucketOf(e.salt, unitId),
          allocation: bucketOf(e.salt + ALLOCATION_SALT_SUFFIX, unitId),
          layer: e.layer ? bucketOf(e.layer.key + LAYER_SALT_SUFFIX, unitId) : null,
        },
        expected: { variant: a.variant, inExperiment: a.inExperiment, reason: a.reason, phase: a.phase },
      };
    }),
  ),
};

const out = resolve(process.argv[2] ?? 'libs/assignment/core/vectors.json');
writeFileSync(out, `${JSON.stringify(vectors, null, 1)}\n`);
console.log(`wrote ${vectors.cases.length} cases to ${out}`);
