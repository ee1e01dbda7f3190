import { Logger } from '@nestjs/common';
import { OperatorMetrics, renderPrometheus } from './operator-metrics';

describe('renderPrometheus', () => {
  it('writes HELP and TYPE per family, then one line per sample with escaped labels', () => {
    const text = renderPrometheus([
      {
        name: 'verdict_things_total',
        help: 'Things\nseen',
        type: 'counter',
        samples: [
          { labels: { kind: 'outcome', result: 'stored' }, value: 3 },
          { labels: { kind: 'a"b\\c' }, value: 0 },
        ],
      },
      { name: 'verdict_level', help: 'A level', type: 'gauge', samples: [{ value: Infinity }, { value: 1.5 }] },
    ]);
    expect(text).toBe(
      [
        '# HELP verdict_things_total Things\\nseen',
        '# TYPE verdict_things_total counter',
        'verdict_things_total{kind="outcome",result="stored"} 3',
        'verdict_things_total{kind="a\\"b\\\\c"} 0',
        '# HELP verdict_level A level',
        '# TYPE verdict_level gauge',
        'verdict_level +Inf',
        'verdict_level 1.5',
        '',
      ].join('\n'),
    );
  });
});

describe('OperatorMetrics', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('renders every registered source in order and leaves out one that fails', async () => {
    const metrics = new OperatorMetrics();
    metrics.register(() => [{ name: 'verdict_a', help: 'a', type: 'gauge', samples: [{ value: 1 }] }]);
    metrics.register(async () => {
      throw new Error('database away');
    });
    metrics.register(async () => [{ name: 'verdict_b', help: 'b', type: 'gauge', samples: [{ value: 2 }] }]);
    const text = await metrics.render();
    expect(text.split('\n').filter((l) => !l.startsWith('#'))).toEqual(['verdict_a 1', 'verdict_b 2', '']);
  });
});
