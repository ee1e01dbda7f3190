// `npm run arch`: the architecture's rules (.dependency-cruiser.cjs, docs/adr/0020) over apps/ and libs/.
// dependency-cruiser's CLI refuses Node 20; its API runs fine there, so this calls the API.
//   node scripts/check-architecture.mjs [root]   (root: the directory holding apps/ and libs/; default: the repository)
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { cruise } from 'dependency-cruiser';

const require = createRequire(import.meta.url);
const config = require('../.dependency-cruiser.cjs');
const root = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
process.chdir(root);

const { output } = await cruise(['apps', 'libs'].filter((d) => require('node:fs').existsSync(d)), {
  ...config.options,
  validate: true,
  ruleSet: { forbidden: config.forbidden },
});
const violations = output.summary.violations.filter((v) => v.rule.severity === 'error');
for (const v of violations) {
  const cycle = v.cycle ? ` (cycle: ${v.cycle.map((c) => c.name ?? c).join(' -> ')})` : '';
  const rule = config.forbidden.find((r) => r.name === v.rule.name);
  console.error(`${v.rule.name}: ${v.from} -> ${v.to}${cycle}${rule?.comment ? `\n  ${rule.comment}` : ''}`);
}
console.log(`architecture: ${output.summary.totalCruised} modules, ${violations.length} violation(s)`);
process.exit(violations.length ? 1 : 0);
