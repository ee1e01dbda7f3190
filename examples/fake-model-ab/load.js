// Sends chat requests from simulated users to server.js: node load.js [requests] [users] [concurrency]
// (PORT: the backend's port, 4000 by default). Request i comes from user `user-(i % users)`.
'use strict';

/** Sends `requests` POST /chat to `url`, `concurrency` at a time; counts the answers by model ('error': failed). */
async function load(url, { requests = 200, users = 50, concurrency = 20 } = {}) {
  const byModel = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        const res = await fetch(url, { method: 'POST', body: JSON.stringify({ userId: `user-${i % users}`, prompt: `question ${i}` }) });
        const body = await res.json();
        const key = body.model ?? 'error';
        byModel[key] = (byModel[key] || 0) + 1;
      }
    }),
  );
  return byModel;
}

module.exports = { load };

if (require.main === module) {
  const requests = Number(process.argv[2] || 200);
  const users = Number(process.argv[3] || 50);
  const concurrency = Number(process.argv[4] || 20);
  const started = Date.now();
  load(`http://localhost:${process.env.PORT || 4000}/chat`, { requests, users, concurrency })
    .then((byModel) => console.log(`${requests} requests from ${users} users in ${((Date.now() - started) / 1000).toFixed(1)} s:`, byModel))
    .catch((err) => {
      console.error(err.message);
      process.exit(1);
    });
}
