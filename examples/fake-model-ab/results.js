// Prints the experiment's results (GET /v1/experiments/fake-model-ab/results) in short.
//   VERDICT_URL=http://localhost:3000 VERDICT_ADMIN_KEY=... node examples/fake-model-ab/results.js [--json]
'use strict';

const fmt = (x, digits = 3) => (typeof x === 'number' ? Number(x.toPrecision(digits)).toString() : String(x));

/** GET /v1/experiments/fake-model-ab/results, as is. */
async function results(base, adminKey) {
  const res = await fetch(`${base}/v1/experiments/fake-model-ab/results`, { headers: { authorization: `Bearer ${adminKey}` } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`results: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** The results in short, one line each: SRM, variants, comparisons with a p-value, guardrails, decision. */
function describe(body) {
  const lines = [];
  lines.push(`SRM: p = ${fmt(body.srm?.pValue)}, ${body.srm?.ok ? 'ok' : 'MISMATCH'}, units ${JSON.stringify(body.srm?.counts)}`);
  for (const v of body.variants ?? []) {
    const m = v.metrics ?? {};
    const mean = (name) => (m[name] ? fmt(m[name].mean) : '-');
    const p95 = m.latency_ms?.p95?.value ?? m.latency_ms?.p95;
    lines.push(`${v.key.padEnd(6)} units ${v.units}, events ${v.events}: success ${mean('success_rate')}, score ${mean('score')}, latency mean ${mean('latency_ms')} ms, p95 ${fmt(p95)} ms, cost/request $${mean('cost_usd')}`);
  }
  for (const c of body.comparisons ?? []) {
    if (!c.metric || c.pValue === null || c.pValue === undefined) continue;
    lines.push(`  ${c.variant} vs control, ${c.metric}: lift ${fmt(c.absoluteLift)} (${fmt(100 * (c.relativeLift ?? NaN))} %), p ${fmt(c.pValue)}${c.significant ? ' significant' : ''}`);
  }
  for (const g of body.guardrails ?? []) {
    const ci = g.ci ? ` [${fmt(100 * g.ci[0])} %, ${fmt(100 * g.ci[1])} %]` : '';
    lines.push(`guardrail ${g.metric} (${g.variant}, at most ${fmt(100 * g.margin)} % ${g.direction === 'increase' ? 'higher' : 'lower'}): ${g.status}, lift ${fmt(100 * (g.relativeLift ?? NaN))} %${ci}`);
  }
  const d = body.decision ?? {};
  lines.push(`decision: ${d.action}${d.winner ? ` (${d.winner})` : ''}`);
  for (const r of d.reasons ?? []) lines.push(`  - ${typeof r === 'string' ? r : JSON.stringify(r)}`);
  return lines.join('\n');
}

module.exports = { results, describe };

if (require.main === module) {
  const base = (process.env.VERDICT_URL || 'http://localhost:3000').replace(/\/+$/, '');
  results(base, process.env.VERDICT_ADMIN_KEY)
    .then((body) => console.log(process.argv.includes('--json') ? JSON.stringify(body, null, 2) : describe(body)))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
