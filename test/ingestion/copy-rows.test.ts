import { copyInto, copyText } from '../../libs/database/copy-rows';
import { startTestApp, type TestApp } from '../support/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** Ids and texts come from clients: every character COPY's text format treats specially must arrive as sent. */
it('copies rows through COPY text format unchanged, whatever characters they hold', async () => {
  const rows = [
    { id: 'plain', n: 1, x: 0.1, b: true, j: { thumbs_up: 1 } },
    { id: 'tab\there', n: -2, x: 5e-324, b: false, j: { 'a\tb': 'c\nd' } },
    { id: 'new\nline\r\nand\\backslash\\N', n: 3, x: 1e300, b: null, j: null },
    { id: '\\N', n: null, x: null, b: true, j: [] },
    { id: 'ünïcødé ✓ 𝄞 日本', n: 0, x: -0.5, b: false, j: { s: '\\' } },
  ];
  const back = await t.db.transaction(async (manager) => {
    await manager.query(`CREATE TEMP TABLE copy_check (id text, n int8, x float8, b bool, j jsonb) ON COMMIT DROP`);
    await copyInto(manager, 'copy_check', copyText(rows, [(r) => r.id, (r) => r.n, (r) => r.x, (r) => r.b, (r) => r.j]));
    return manager.query(`SELECT id, n::int AS n, x, b, j FROM copy_check`);
  });
  expect(back).toEqual(rows);
});

it('refuses to copy outside a transaction', async () => {
  await expect(copyInto(t.db.manager, 'anything', '')).rejects.toThrow(/needs a transaction/);
});
