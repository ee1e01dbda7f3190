/** Builds a valid create-experiment body; override any part. */
export function experimentBody(overrides: Record<string, unknown> = {}): Record<string, any> {
  return {
    key: `exp-${Math.random().toString(36).slice(2, 10)}`,
    name: 'Can the 8B model replace the 70B one?',
    hypothesis: 'The quantized 8B model keeps success rate within 2 % at a third of the cost.',
    unitType: 'user',
    trafficAllocation: 1,
    variants: [
      {
        key: 'control',
        name: 'Llama 70B',
        weight: 1,
        isControl: true,
        config: { provider: 'vllm', model: 'llama-3.1-70b' },
        pricing: { inputPer1M: 0.9, outputPer1M: 0.9 },
      },
      {
        key: 'small',
        name: 'Llama 8B q4',
        weight: 1,
        config: { provider: 'vllm', model: 'llama-3.1-8b-q4' },
        pricing: { inputPer1M: 0.2, outputPer1M: 0.2 },
      },
    ],
    metrics: {
      primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.02 },
      secondary: [{ name: 'score', goal: 'increase' }],
      guardrails: [
        { name: 'latency_p95', maxRelativeIncrease: 0.1 },
        { name: 'error_rate', maxRelativeIncrease: 0.2 },
      ],
    },
    stats: { alpha: 0.05, sequential: true, plannedUnits: 20000 },
    ...overrides,
  };
}
