import { OpenFeature } from '@openfeature/server-sdk';
import { VerdictProvider } from './openfeature';
import { FakeVerdictServer } from './testing/fake-verdict-server';
import { snapshot } from './testing/fixtures';
import type { ExposureEvent } from './types';
import { createClient } from './verdict-client';

describe('VerdictProvider (OpenFeature)', () => {
  let server: FakeVerdictServer;
  beforeEach(async () => {
    server = await new FakeVerdictServer(snapshot('v1')).start();
  });
  afterEach(async () => {
    await OpenFeature.close();
    await server.stop();
  });

  it('resolves the variant key and config with reason SPLIT, through the exposure hook', async () => {
    const seen: ExposureEvent[] = [];
    const client = createClient({ baseUrl: server.url, apiKey: 'test-key', flushOnExit: false, hooks: { onAssignment: (e) => seen.push(e) } });
    await OpenFeature.setProviderAndWait(new VerdictProvider(client));
    const of = OpenFeature.getClient();
    const expected = client.assign('model-ab', 'alice');
    seen.length = 0;
    const details = await of.getStringDetails('model-ab', 'fallback', { targetingKey: 'bob' });
    const again = await of.getStringDetails('model-ab', 'fallback', { targetingKey: 'bob' });
    expect(details).toMatchObject({ value: client.assign('model-ab', 'bob').variant, reason: 'SPLIT', flagMetadata: { inExperiment: true, phase: 1 } });
    expect(details.variant).toBe(details.value);
    expect(again.value).toBe(details.value);
    expect(seen.map((e) => e.unitId)).toEqual(['bob']);
    const config = await of.getObjectValue('model-ab', {}, { targetingKey: 'alice' });
    expect(config).toEqual(expected.config);
  });

  it('answers errors with the default value', async () => {
    const client = createClient({ baseUrl: server.url, apiKey: 'test-key', flushOnExit: false });
    await OpenFeature.setProviderAndWait(new VerdictProvider(client));
    const of = OpenFeature.getClient();
    expect(await of.getStringDetails('missing', 'fb', { targetingKey: 'a' })).toMatchObject({ value: 'fb', errorCode: 'FLAG_NOT_FOUND' });
    expect(await of.getStringDetails('model-ab', 'fb', {})).toMatchObject({ value: 'fb', errorCode: 'TARGETING_KEY_MISSING' });
    expect(await of.getBooleanDetails('model-ab', false, { targetingKey: 'a' })).toMatchObject({ value: false, errorCode: 'TYPE_MISMATCH' });
  });
});
