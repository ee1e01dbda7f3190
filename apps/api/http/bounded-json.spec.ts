import { jsonNestsDeeperThan } from './bounded-json';

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth);

describe('jsonNestsDeeperThan', () => {
  it('counts arrays and objects alike, up to the limit inclusive', () => {
    expect(jsonNestsDeeperThan(nested(32), 32)).toBe(false);
    expect(jsonNestsDeeperThan(nested(33), 32)).toBe(true);
    const objects = '{"a":'.repeat(33) + '1' + '}'.repeat(33);
    expect(jsonNestsDeeperThan(objects, 32)).toBe(true);
    expect(jsonNestsDeeperThan(objects, 33)).toBe(false);
  });

  it('measures depth, not the number of containers', () => {
    const wide = `[${Array.from({ length: 10_000 }, () => '{"a":[1]}').join(',')}]`;
    expect(jsonNestsDeeperThan(wide, 3)).toBe(false);
    expect(jsonNestsDeeperThan(wide, 2)).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ prompt: '[[[[[[[[[[ {{{{{{{{ "quoted [[[[" \\ [[[[[[' });
    expect(jsonNestsDeeperThan(text, 1)).toBe(false);
    expect(jsonNestsDeeperThan(JSON.stringify({ a: '\\', b: [[[1]]] }), 3)).toBe(true);
    expect(jsonNestsDeeperThan(JSON.stringify({ a: '\\"[[[[[[' }), 1)).toBe(false);
  });

  it('answers at once for 100k levels, and leaves malformed text to JSON.parse', () => {
    expect(jsonNestsDeeperThan(nested(100_000), 32)).toBe(true);
    expect(jsonNestsDeeperThan('{"a": "never closed', 1)).toBe(false);
    expect(jsonNestsDeeperThan(']]]]]]]]]]]]]]', 1)).toBe(false);
  });
});
