// Reads the verdict of `gateway-ab` back: per variant the events, success rate, TTFT, cost;
// the decision and its reasons.
//   VERDICT_ADMIN_KEY=... node examples/gateway-ab/results.js
'use strict';

async function results(base, adminKey) {
  const res = await fetch(`${base}/v1/experiments/gateway-ab/results`, { headers: { authorization: `Bearer ${adminKey}` } });
  if (res.status !== 200) throw new Error(`results: ${res.status} ${await res.text()}`);
  return res.json();
}

function describe(r) {
  const lines = r.variants.map((v) => {
    const m = v.metrics;
    const mean = (name, digits = 1) => (m[name] && m[name].mean != null ? m[name].mean.toFixed(digits) : 'n/a');
    return `${v.key.padEnd(6)} events ${v.events}  success ${mean('success_rate', 3)}  ttft ${mean('ttft_ms')} ms  latency ${mean('latency_ms')} ms  cost/call $${mean('cost_usd', 8)}`;
  });
  lines.push(`decision: ${r.decision.action}${r.decision.winner ? ` (${r.decision.winner})` : ''}`);
  for (const reason of r.decision.reasons) lines.push(`  - ${reason}`);
  return lines.join('\n');
}

module.exports = { results, describe };

if (require.main === module) {
  const base = (process.env.VERDICT_URL || 'http://localhost:3000').replace(/\/+$/, '');
  results(base, process.env.VERDICT_ADMIN_KEY)
    .then((r) => console.log(process.argv.includes('--json') ? JSON.stringify(r, null, 2) : describe(r)))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
