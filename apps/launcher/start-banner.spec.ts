import { loadConfig } from '../../libs/config/config';
import { startBanner } from './start-banner';

describe('startBanner', () => {
  const embedded = { dataDir: '/srv/app/.verdict', port: 41234, major: 16, runAs: { user: 'postgres' } };
  const key = 'vk_admin_abcdefghijklmnopqrstuvwxyz0123456789';

  it('says where to call, where the docs and the data are, which backends run and how to get the key', () => {
    const config = loadConfig({ VERDICT_ADMIN_KEY: key, DATABASE_URL: 'postgres://u:secret-pw@127.0.0.1:41234/verdict', PORT: '3000' });
    const { text } = startBanner({ config, embedded, adminKey: { kind: 'file', file: '/srv/app/.verdict/admin-key' } });
    expect(text).toMatch(/ready at http:\/\/localhost:3000\n/);
    expect(text).toMatch(/API docs +http:\/\/localhost:3000\/docs/);
    expect(text).toMatch(/Data +\/srv\/app\/\.verdict/);
    expect(text).toMatch(/embedded PostgreSQL 16 on 127\.0\.0\.1:41234 \(as postgres\)/);
    expect(text).toMatch(/queues on PostgreSQL .*LISTEN\/NOTIFY/);
    expect(text).toMatch(/export VERDICT_ADMIN_KEY=\$\(cat \/srv\/app\/\.verdict\/admin-key\)/);
    expect(text).not.toContain(key);
    expect(text).not.toContain('secret-pw');
    expect(text.split('\n').length).toBeLessThanOrEqual(12);
  });

  it('shows a key it just generated once, in the text and never in the log fields', () => {
    const config = loadConfig({ VERDICT_ADMIN_KEY: key });
    const banner = startBanner({ config, embedded, adminKey: { kind: 'file', file: '/srv/app/.verdict/admin-key', key } });
    expect(banner.text).toContain(`Admin key   ${key}`);
    expect(JSON.stringify(banner.fields)).not.toContain(key);
  });

  it('names an external database and Redis when the URLs are set', () => {
    const config = loadConfig({ VERDICT_ADMIN_KEY: key, DATABASE_URL: 'postgres://db/verdict', REDIS_URL: 'redis://cache:6379/0' });
    const { fields } = startBanner({ config, embedded: null, adminKey: { kind: 'environment' } });
    expect(fields).toMatchObject({ data: 'external (DATABASE_URL)', database: 'PostgreSQL at DATABASE_URL', backends: 'queues and change bus on Redis' });
  });
});
