// Sends chat requests from simulated users to server.js: node load.js [requests] [users]
'use strict';
const requests = Number(process.argv[2] || 200);
const users = Number(process.argv[3] || 50);
const url = `http://localhost:${process.env.PORT || 4000}/chat`;

(async () => {
  const byModel = {};
  for (let i = 0; i < requests; i++) {
    const res = await fetch(url, { method: 'POST', body: JSON.stringify({ userId: `user-${i % users}`, prompt: `question ${i}` }) });
    const body = await res.json();
    const key = body.model ?? 'error';
    byModel[key] = (byModel[key] || 0) + 1;
  }
  console.log(byModel);
})();
