import { DATASET_LIMITS, parseJsonlUpload, parseJsonUpload } from './dataset-upload';

describe('dataset uploads', () => {
  it('accepts messages or a prompt, and names cases after their index unless given an id', () => {
    const r = parseJsonUpload({
      name: 'support-qa',
      cases: [
        { prompt: 'Capital of France?', reference: 'Paris', tags: ['geo'] },
        { id: 'refund-1', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Refund?' }], metadata: { lang: 'en' } },
        { prompt: 'Give JSON', schema: { type: 'object', required: ['a'] } },
      ],
    });
    if ('errors' in r) throw new Error(JSON.stringify(r.errors));
    expect(r.name).toBe('support-qa');
    expect(r.cases.map((c) => c.caseId)).toEqual(['case-0', 'refund-1', 'case-2']);
    expect(r.cases[0]).toEqual({ caseId: 'case-0', messages: [{ role: 'user', content: 'Capital of France?' }], reference: 'Paris', schema: null, tags: ['geo'], metadata: {} });
    expect(r.contentHash).toMatch(/^[0-9a-f]{64}$/);
    const again = parseJsonUpload({ name: 'support-qa', cases: [{ prompt: 'Capital of France?', reference: 'Paris', tags: ['geo'] }] });
    expect('contentHash' in again && again.contentHash).not.toBe(r.contentHash);
  });

  it('names the case index and field of each problem', () => {
    const r = parseJsonUpload({
      name: 'x',
      cases: [{ prompt: 'ok' }, { prompt: 'a', messages: [] }, { messages: [{ role: 'bot', content: 'hi' }] }, { prompt: 'x', schema: { type: 'objec' } }, { prompt: 'x', id: 'case-0' }, { prompt: 'a\u0000b' }, 'nope', { prompt: 'x', extra: 1 }],
    });
    expect(r).toEqual({
      status: 400,
      errors: expect.arrayContaining([
        { field: 'cases.1.messages', message: 'give either messages or a prompt' },
        { field: 'cases.2.messages.0', message: expect.stringContaining('role') },
        { field: 'cases.3.schema', message: expect.stringContaining('is not a valid JSON schema') },
        { field: 'cases.4.id', message: 'case-0 is already the id of cases.0' },
        { field: 'cases.5.prompt', message: expect.stringContaining('NUL') },
        { field: 'cases.6', message: 'must be an object with messages or a prompt' },
        { field: 'cases.7.extra', message: 'property extra should not exist' },
      ]),
    });
    expect(parseJsonUpload({ name: 'bad name!', cases: [] })).toEqual({ status: 400, errors: [expect.objectContaining({ field: 'name' })] });
  });

  it('answers 413 naming an oversized case, or too many cases', () => {
    const big = parseJsonUpload({ name: 'x', cases: [{ prompt: 'ok' }, { prompt: 'y'.repeat(DATASET_LIMITS.caseBytes) }] });
    expect(big).toEqual({ status: 413, errors: [{ field: 'cases.1', message: `is larger than ${DATASET_LIMITS.caseBytes} bytes` }] });
    const many = parseJsonlUpload('x', '{"prompt":"a"}\n'.repeat(DATASET_LIMITS.cases + 1));
    expect(many).toMatchObject({ status: 413, errors: [{ field: 'cases' }] });
  });

  it('reads JSONL line by line and names a malformed line', () => {
    const ok = parseJsonlUpload('qa', '{"prompt":"a","reference":"1"}\n\n{"prompt":"b","reference":2}\n');
    if ('errors' in ok) throw new Error(JSON.stringify(ok.errors));
    expect(ok.cases.map((c) => c.reference)).toEqual(['1', 2]);
    expect(parseJsonlUpload('qa', '{"prompt":"a"}\n{"prompt": oops}\n')).toEqual({ status: 400, errors: [{ field: 'line.2', message: expect.stringContaining('line 2 is not valid JSON') }] });
    expect(parseJsonlUpload('qa', '{"prompt":"a"}\n{"messages":[]}')).toEqual({ status: 400, errors: [{ field: 'line.2.messages', message: expect.stringContaining('array of 1-') }] });
    expect(parseJsonlUpload('qa', `${'['.repeat(5000)}${']'.repeat(5000)}`)).toMatchObject({ status: 400 });
    expect(parseJsonlUpload(undefined, '{"prompt":"a"}')).toMatchObject({ status: 400, errors: [{ field: 'name' }] });
    expect(parseJsonlUpload('qa', '\n\n')).toEqual({ status: 400, errors: [{ field: 'cases', message: 'must hold at least one case' }] });
  });

  it('refuses a deeply nested case without a stack overflow', () => {
    const deep = `{"prompt":"a","metadata":{"x":${'['.repeat(3000)}${']'.repeat(3000)}}}`;
    expect(parseJsonlUpload('qa', deep)).toEqual({ status: 400, errors: [expect.objectContaining({ message: expect.stringContaining('deeper than') })] });
  });
});
