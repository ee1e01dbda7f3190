import { boundedRegexTest } from './bounded-regex';
import { type EvaluatorDefinition, parseEvaluators } from './evaluator-definition';
import { evaluate, extractNumber, parseJsonAnswer, similarity } from './evaluators';
import { judgeMessages, parseJudgeAnswer } from './judge';

function one<T extends EvaluatorDefinition['type']>(raw: Record<string, unknown> & { type: T }): Extract<EvaluatorDefinition, { type: T }> {
  const { evaluators, errors } = parseEvaluators([raw]);
  expect(errors).toEqual([]);
  return evaluators[0] as Extract<EvaluatorDefinition, { type: T }>;
}

describe('evaluator definitions', () => {
  it('apply defaults and name evaluators after their type', () => {
    expect(parseEvaluators([{ type: 'exact' }, { type: 'similarity', name: 'sim' }]).evaluators).toEqual([
      { type: 'exact', name: 'exact', caseSensitive: true, trim: true },
      { type: 'similarity', name: 'sim', threshold: 0.8, caseSensitive: true },
    ]);
    expect(one({ type: 'judge', variant: 'big', rubric: 'Correct?' })).toEqual({ type: 'judge', name: 'judge', variant: 'big', rubric: 'Correct?', min: 1, max: 5, passAt: 4 });
  });

  it('name the index and field of every problem', () => {
    const { errors } = parseEvaluators([
      { type: 'exact', extra: 1 },
      { type: 'nope' },
      { type: 'regex', pattern: '(' },
      { type: 'numeric', tolerance: -1 },
      { type: 'judge', variant: 'big' },
      { type: 'exact' },
      'x',
    ]);
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'evaluators.0.extra', message: 'property extra should not exist' },
        { field: 'evaluators.1.type', message: expect.stringContaining('must be one of') },
        { field: 'evaluators.2.pattern', message: expect.stringContaining('is not a valid regular expression') },
        { field: 'evaluators.3.tolerance', message: expect.stringContaining('between 0') },
        { field: 'evaluators.4.rubric', message: 'is required' },
        { field: 'evaluators.5.name', message: expect.stringContaining('used twice') },
        { field: 'evaluators.6', message: 'must be an object with a type' },
      ]),
    );
    expect(parseEvaluators([]).errors).toEqual([{ field: 'evaluators', message: 'must be a non-empty array' }]);
    expect(parseEvaluators(new Array(21).fill({ type: 'exact' })).errors[0].message).toContain('no more than 20');
    expect(parseEvaluators([{ type: 'regex', pattern: 'a', flags: 'g' }]).errors[0].field).toBe('evaluators.0.flags');
    expect(parseEvaluators([{ type: 'json_schema', schema: { type: 'objec' } }]).errors).toEqual([{ field: 'evaluators.0.schema', message: expect.stringContaining('is not a valid JSON schema') }]);
    // The per-answer measurements' names are reserved (docs/adr/0040).
    expect(parseEvaluators([{ type: 'exact', name: 'tokens' }]).errors).toEqual([{ field: 'evaluators.0.name', message: expect.stringContaining('tokens is reserved') }]);
    expect(parseEvaluators([{ type: 'exact', name: 'latency_ms_v2' }]).errors).toEqual([]);
  });
});

describe('deterministic evaluators', () => {
  it('exact: trims and folds case only when asked', () => {
    expect(evaluate(one({ type: 'exact' }), { answer: ' Paris\n', reference: 'Paris' }).passed).toBe(true);
    expect(evaluate(one({ type: 'exact' }), { answer: 'paris', reference: 'Paris' }).passed).toBe(false);
    expect(evaluate(one({ type: 'exact', caseSensitive: false }), { answer: 'paris', reference: 'Paris' })).toEqual({ passed: true, score: 1 });
    expect(evaluate(one({ type: 'exact' }), { answer: '42', reference: 42 }).passed).toBe(true);
    expect(evaluate(one({ type: 'exact' }), { answer: 'x' })).toEqual({ passed: null, score: null, error: 'the case has no reference' });
  });

  it('contains: the evaluator value, else the reference', () => {
    expect(evaluate(one({ type: 'contains', value: 'refund' }), { answer: 'We issue a refund.' }).passed).toBe(true);
    expect(evaluate(one({ type: 'contains' }), { answer: 'The capital is Paris.', reference: 'Paris' }).passed).toBe(true);
    expect(evaluate(one({ type: 'contains', caseSensitive: false }), { answer: 'PARIS', reference: 'paris' }).passed).toBe(true);
    expect(evaluate(one({ type: 'contains' }), { answer: 'Lyon', reference: 'Paris' }).score).toBe(0);
  });

  it('regex: matches, and a catastrophic backtrack is stopped as an evaluator error', () => {
    expect(evaluate(one({ type: 'regex', pattern: '^\\d+(\\.\\d+)?$' }), { answer: '3.14' }).passed).toBe(true);
    expect(evaluate(one({ type: 'regex', pattern: 'hello', flags: 'i' }), { answer: 'HELLO there' }).passed).toBe(true);
    const evil = one({ type: 'regex', pattern: '^(a+)+$' });
    const started = process.hrtime.bigint();
    expect(evaluate(evil, { answer: `${'a'.repeat(40)}!` })).toEqual({ passed: null, score: null, error: 'the regular expression ran out of time on this answer' });
    // Stopped near the limit, not after the ~2^40 steps the backtracking would take.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(5000);
    expect(boundedRegexTest(/b/, 'abc')).toBe(true);
  });

  it('json_schema: valid JSON only, or conformance to the evaluator or case schema', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, email: { type: 'string', format: 'email' } }, required: ['city'] };
    expect(evaluate(one({ type: 'json_schema' }), { answer: '{"a": 1}' }).passed).toBe(true);
    expect(evaluate(one({ type: 'json_schema' }), { answer: 'Sure! {"a": 1}' })).toEqual({ passed: false, score: 0, detail: expect.stringContaining('not valid JSON') });
    expect(evaluate(one({ type: 'json_schema', schema }), { answer: '```json\n{"city": "Paris"}\n```' }).passed).toBe(true);
    expect(evaluate(one({ type: 'json_schema' }), { answer: '{"town": "Paris"}', schema })).toEqual({ passed: false, score: 0, detail: "/ must have required property 'city'" });
    expect(evaluate(one({ type: 'json_schema' }), { answer: '{"city": "P", "email": "nope"}', schema }).detail).toBe('/email must match format "email"');
    expect(evaluate(one({ type: 'json_schema' }), { answer: '{}', schema: { type: 'objec' } }).error).toContain('does not compile');
    const s2020 = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'array', prefixItems: [{ type: 'number' }] };
    expect(evaluate(one({ type: 'json_schema', schema: s2020 }), { answer: '["x"]' }).passed).toBe(false);
    expect(evaluate(one({ type: 'json_schema', schema: s2020 }), { answer: '[1]' }).passed).toBe(true);
    expect(parseJsonAnswer('```\n[1]\n```')).toEqual({ value: [1] });
  });

  it('numeric: the last number of the answer within the absolute or relative tolerance', () => {
    expect(extractNumber('The total is 1,234.5 dollars.')).toBe(1234.5);
    expect(extractNumber('  -2e3 ')).toBe(-2000);
    expect(extractNumber('From 3 to 7')).toBe(7);
    expect(extractNumber('none')).toBeUndefined();
    const e = one({ type: 'numeric', tolerance: 0.01 });
    expect(evaluate(e, { answer: 'It is 3.141', reference: 3.14159 }).passed).toBe(true);
    expect(evaluate(e, { answer: 'It is 3.2', reference: '3.14159' }).passed).toBe(false);
    expect(evaluate(one({ type: 'numeric', relativeTolerance: 0.05 }), { answer: '104', reference: 100 }).passed).toBe(true);
    expect(evaluate(e, { answer: 'no idea', reference: 1 })).toEqual({ passed: false, score: 0, detail: 'the answer holds no number' });
    expect(evaluate(e, { answer: '1', reference: 'many' }).error).toBe('the case has no numeric reference');
  });

  it('similarity: normalised Levenshtein from the leven library, pass at the threshold', () => {
    expect(similarity('kitten', 'sitting')).toBeCloseTo(1 - 3 / 7, 12);
    expect(similarity('', '')).toBe(1);
    const r = evaluate(one({ type: 'similarity', threshold: 0.5 }), { answer: 'kitten', reference: 'sitting' });
    expect(r.passed).toBe(true);
    expect(r.score).toBeCloseTo(4 / 7, 12);
    expect(evaluate(one({ type: 'similarity' }), { answer: 'kitten', reference: 'sitting' }).passed).toBe(false);
    expect(evaluate(one({ type: 'similarity', caseSensitive: false }), { answer: 'ABC', reference: 'abc' }).score).toBe(1);
    expect(evaluate(one({ type: 'similarity' }), { answer: 'a'.repeat(10_001), reference: 'a' }).error).toContain('longer than');
  });
});

describe('judge', () => {
  const judge = one({ type: 'judge', variant: 'big', rubric: 'Is the answer correct and polite?' });

  it('asks for the fixed format with the rubric, the case, the reference and the answer', () => {
    const messages = judgeMessages(judge, { messages: [{ role: 'user', content: 'Capital of France?' }], answer: 'Paris', reference: 'Paris' });
    expect(messages[0].role).toBe('system');
    expect(messages[0].content).toContain('Is the answer correct and polite?');
    expect(messages[0].content).toContain('{"score": <integer from 1 to 5>');
    expect(messages[1].content).toContain('Capital of France?');
    expect(messages[1].content).toContain('Reference answer:\nParis');
    expect(messages[1].content).toContain('Answer to grade:\nParis');
  });

  it('parses the strict format into pass and a normalised score', () => {
    expect(parseJudgeAnswer(judge, '{"score": 5, "reason": "Correct."}')).toEqual({ passed: true, score: 1, detail: '5/5: Correct.' });
    expect(parseJudgeAnswer(judge, '```json\n{"reason": "Wrong city.", "score": 2}\n```')).toEqual({ passed: false, score: 0.25, detail: '2/5: Wrong city.' });
  });

  it.each([
    ['prose', 'I would give it a 5.'],
    ['prose around the object', 'Score: {"score": 5, "reason": "ok"}'],
    ['out of range', '{"score": 6, "reason": "great"}'],
    ['not an integer', '{"score": 4.5, "reason": "fine"}'],
    ['a string score', '{"score": "5", "reason": "fine"}'],
    ['an extra key', '{"score": 5, "reason": "ok", "confidence": 1}'],
    ['no reason', '{"score": 5}'],
    ['an array', '[5]'],
  ])('makes a judge answer that does not parse (%s) an evaluator error, not a fail', (_label, text) => {
    const r = parseJudgeAnswer(judge, text);
    expect(r.passed).toBeNull();
    expect(r.score).toBeNull();
    expect(r.error).toContain("the judge's answer does not parse");
  });
});
