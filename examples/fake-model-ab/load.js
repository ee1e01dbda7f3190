// Sends chat requests from simulated users to server.js: node load.js [requests] [users] [concurrency]
'use strict';
const requests = Number(process.argv[2] || 200);
const users = Number(process.argv[3] || 50);
const concurrency = Number(process.argv[4] || 20);
const url = `http://localhost:${process.env.PORT || 4000}/chat`;

(async () => {
  const byModel = {};
  let next = 0;
  const started = Date.now();
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
  console.log(`${requests} requests from ${users} users in ${((Date.now() - started) / 1000).toFixed(1)} s:`, byModel);
})();
