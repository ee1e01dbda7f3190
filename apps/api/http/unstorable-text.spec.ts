import { textIssue } from '../../../libs/storable/storable';
import { findUnstorableText } from './unstorable-text';

describe('textIssue (the one check, shared with ingestion)', () => {
  it('accepts ordinary text, emoji (paired surrogates) included', () => {
    for (const ok of ['', 'plain', 'é ü ß 中文', '🙂 a 🚀', '\u0001\u001f', '\uffff']) expect(textIssue(ok)).toBeNull();
  });

  it('refuses NUL and lone surrogates, high or low, anywhere', () => {
    expect(textIssue('a\u0000b')).toMatch(/NUL/);
    for (const bad of ['\ud800', 'x\ud83d', '\udc00x', 'a\ude00b', '🙂\ud800', '\udc00\ud800']) {
      expect(textIssue(bad)).toMatch(/lone surrogate/);
    }
  });
});

describe('findUnstorableText', () => {
  it('names each bad string by its path, property names on the object that holds them', () => {
    const body = {
      name: 'ok',
      hypothesis: 'bad\u0000',
      variants: [{ key: 'a' }, { key: 'b', config: { prompt: 'x\ud800', 'k\u0000': 1, nested: [['\udfff']] } }],
    };
    expect(findUnstorableText(body, '')).toEqual([
      { field: 'hypothesis', message: expect.stringMatching(/NUL/) },
      { field: 'variants.1.config.prompt', message: expect.stringMatching(/surrogate/) },
      { field: 'variants.1.config', message: expect.stringMatching(/^property name "k\\u0000" must not contain NUL/) },
      { field: 'variants.1.config.nested.0.0', message: expect.stringMatching(/surrogate/) },
    ]);
  });

  it('names a parameter by the name it is given, and stops at 20 problems', () => {
    expect(findUnstorableText('\u0000', 'key')).toEqual([{ field: 'key', message: expect.stringMatching(/NUL/) }]);
    expect(findUnstorableText(Array.from({ length: 1000 }, () => '\u0000'), 'items')).toHaveLength(20);
    expect(findUnstorableText({ a: 1, b: [true, null, 2.5], c: 'fine' }, '')).toEqual([]);
    expect(findUnstorableText(JSON.parse('{"config": {"t": 1e400, "u": [-1e999]}}'), '')).toEqual([
      { field: 'config.t', message: 'must be a finite number' },
      { field: 'config.u.0', message: 'must be a finite number' },
    ]);
  });
});
