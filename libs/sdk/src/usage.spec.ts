import { errorCode, extractUsage } from './usage';

describe('extractUsage', () => {
  it('reads the documented shapes', () => {
    expect(extractUsage({ usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })).toEqual({ inputTokens: 10, outputTokens: 5 });
    expect(extractUsage({ usage: { input_tokens: 7, output_tokens: 3 } })).toEqual({ inputTokens: 7, outputTokens: 3 });
    expect(extractUsage({ inputTokens: 1, outputTokens: 2, costUsd: 0.01 })).toEqual({ inputTokens: 1, outputTokens: 2, costUsd: 0.01 });
    expect(extractUsage({ usage: { inputTokens: 4, outputTokens: 6 } })).toEqual({ inputTokens: 4, outputTokens: 6 });
  });

  it('ignores anything else', () => {
    for (const r of [null, undefined, 'text', 42, {}, { usage: null }, { usage: { prompt_tokens: -1, completion_tokens: 'x' } }, { inputTokens: NaN }]) {
      expect(extractUsage(r)).toEqual({});
    }
  });
});

describe('errorCode', () => {
  it('prefers code, then status, then name', () => {
    expect(errorCode(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(errorCode({ status: 500 })).toBe('http_500');
    expect(errorCode(new TypeError('x'))).toBe('TypeError');
    expect(errorCode(new Error('x'))).toBe('error');
    expect(errorCode('string')).toBe('error');
  });
});
