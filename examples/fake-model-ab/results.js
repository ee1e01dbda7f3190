// Prints the experiment's results (GET /v1/experiments/fake-model-ab/results) in short.
//   VERDICT_URL=http://localhost:3000 VERDICT_ADMIN_KEY=... node examples/fake-model-ab/results.js [--json]
'use strict';

const base = (process.env.VERDICT_URL || 'http://localhost:3000').replace(/\/+$/, '');
const headers = { authorization: `Bearer ${process.env.VERDICT_ADMIN_KEY}` };
const fmt = (x, digits = 3) => (typeof x === 'number' ? Number(x.toPrecision(digits)).toString() : String(x));

(async () => {
  const res = await fetch(`${base}/v1/experiments/fake-model-ab/results`, { headers });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`results: ${res.status} ${JSON.stringify(body)}`);
  if (process.argv.includes('--json')) return console.log(JSON.stringify(body, null, 2));
  console.log(`SRM: p = ${fmt(body.srm?.pValue)}, ${body.srm?.ok ? 'ok' : 'MISMATCH'}, units ${JSON.stringify(body.srm?.counts)}`);
  for (const v of body.variants ?? []) {
    const m = v.metrics ?? {};
    const mean = (name) => (m[name] ? fmt(m[name].mean) : '-');
    const p95 = m.latency_ms?.p95?.value ?? m.latency_ms?.p95;
    console.log(`${v.key.padEnd(6)} units ${v.units}, events ${v.events}: success ${mean('success_rate')}, score ${mean('score')}, latency mean ${mean('latency_ms')} ms, p95 ${fmt(p95)} ms, cost/request $${mean('cost_usd')}`);
  }
  for (const c of body.comparisons ?? []) {
    if (!c.metric || c.pValue === null || c.pValue === undefined) continue;
    console.log(`  ${c.variant} vs control, ${c.metric}: lift ${fmt(c.absoluteLift)} (${fmt(100 * (c.relativeLift ?? NaN))} %), p ${fmt(c.pValue)}${c.significant ? ' significant' : ''}`);
  }
  for (const g of body.guardrails ?? []) {
    const ci = g.ci ? ` [${fmt(100 * g.ci[0])} %, ${fmt(100 * g.ci[1])} %]` : '';
    console.log(`guardrail ${g.metric} (${g.variant}, at most ${fmt(100 * g.margin)} % ${g.direction === 'increase' ? 'higher' : 'lower'}): ${g.status}, lift ${fmt(100 * (g.relativeLift ?? NaN))} %${ci}`);
  }
  const d = body.decision ?? {};
  console.log(`decision: ${d.action}${d.winner ? ` (${d.winner})` : ''}`);
  for (const r of d.reasons ?? []) console.log(`  - ${typeof r === 'string' ? r : JSON.stringify(r)}`);
})().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
