import { ValidationFailedError } from '../../../libs/errors/domain-error';
import { parseAssignBatch, parseAssignRequest } from './assign-request';

function fields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationFailedError) return error.errors!.map((e) => e.field);
    throw error;
  }
  return [];
}

describe('assignment bodies', () => {
  it('accepts a well-formed request and keeps only what assignment needs', () => {
    expect(parseAssignRequest({ experiment: 'e', unitId: 'ü-42', attributes: { plan: 'pro' } })).toEqual({ experiment: 'e', unitId: 'ü-42' });
  });

  it('names every bad field', () => {
    expect(fields(() => parseAssignRequest({ experiment: 'e' }))).toEqual(['unitId']);
    expect(fields(() => parseAssignRequest({ experiment: 'e', unitId: 42 }))).toEqual(['unitId']);
    expect(fields(() => parseAssignRequest({ experiment: 'e', unitId: 'x'.repeat(257) }))).toEqual(['unitId']);
    expect(fields(() => parseAssignRequest({ experiment: '', unitId: 'u', extra: 1 }))).toEqual(['extra', 'experiment']);
    expect(fields(() => parseAssignRequest({ experiment: 'e', unitId: 'u', attributes: [] }))).toEqual(['attributes']);
    expect(fields(() => parseAssignRequest('nope'))).toEqual(['body']);
    // What the exposure could not store: NUL, lone surrogates (a well-formed pair is fine).
    expect(fields(() => parseAssignRequest({ experiment: 'e', unitId: 'a\u0000b' }))).toEqual(['unitId']);
    expect(fields(() => parseAssignRequest({ experiment: 'e', unitId: 'a\ud800' }))).toEqual(['unitId']);
    expect(fields(() => parseAssignRequest({ experiment: 'e', unitId: '\udc00b' }))).toEqual(['unitId']);
    expect(fields(() => parseAssignRequest({ experiment: 'e', unitId: 'emoji-\ud83d\ude00' }))).toEqual([]);
  });

  it('bounds batches and names the item', () => {
    expect(parseAssignBatch({ items: [{ experiment: 'e', unitId: 'u' }] })).toHaveLength(1);
    expect(fields(() => parseAssignBatch({ items: [] }))).toEqual(['items']);
    expect(fields(() => parseAssignBatch({ items: Array.from({ length: 1001 }, () => ({ experiment: 'e', unitId: 'u' })) }))).toEqual(['items']);
    expect(fields(() => parseAssignBatch({ items: [{ experiment: 'e', unitId: 'u' }, { experiment: 'e' }] }))).toEqual(['items.1.unitId']);
    expect(fields(() => parseAssignBatch({ items: [{ experiment: 'e', unitId: 'u' }, { experiment: 'e', unitId: '\u0000' }] }))).toEqual(['items.1.unitId']);
    expect(fields(() => parseAssignBatch({ list: [] }))).toEqual(['list', 'items']);
  });
});
