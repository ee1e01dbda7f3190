import { parseRunRequest } from './run-request';

describe('run requests', () => {
  it('apply defaults', () => {
    const { request, errors } = parseRunRequest({ dataset: 'qa', evaluators: [{ type: 'exact' }] });
    expect(errors).toEqual([]);
    expect(request).toMatchObject({ dataset: 'qa', repetitions: 1, concurrency: 4, maxCostUsd: null, margin: 0.05, alpha: 0.05 });
    expect(request?.variants).toBeUndefined();
  });

  it('name each bad field', () => {
    const { request, errors } = parseRunRequest({ dataset: '', evaluators: [], repetitions: 0, concurrency: 100, maxCostUsd: 0, margin: 2, variants: ['a', 'a'], extra: true });
    expect(request).toBeUndefined();
    expect(errors.map((e) => e.field).sort()).toEqual(['concurrency', 'dataset', 'evaluators', 'extra', 'margin', 'maxCostUsd', 'repetitions', 'variants']);
  });

  it('refuse text Postgres cannot hold, naming the field', () => {
    const { errors } = parseRunRequest({ dataset: 'qa', evaluators: [{ type: 'judge', variant: 'j', rubric: 'a\u0000b' }] });
    expect(errors).toEqual([{ field: 'evaluators.0.rubric', message: expect.stringContaining('NUL') }]);
    expect(parseRunRequest([]).errors).toEqual([{ field: 'body', message: 'must be a JSON object' }]);
  });
});
