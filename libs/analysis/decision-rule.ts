import type { MetricGoal } from '../experiments/experiment.types';
import type { Decision, GuardrailStatus, Interval } from './results.types';

/** What the rule needs about one treatment, already computed from the results. */
export interface TreatmentEvidence {
  variant: string;
  /** Relative lift of the primary metric over control and its interval (sequential or fixed, as configured). */
  lift: number | null;
  ci: Interval | null;
  adjustedPValue: number | null;
  guardrails: Array<{ metric: string; status: GuardrailStatus; ci: Interval | null; margin: number; direction: 'increase' | 'decrease' }>;
  /** Cost per event significantly lower than control's. */
  cheaper: boolean;
  /** Mean or p95 latency significantly lower than control's. */
  faster: boolean;
  /** Units (treatment + control) for 80 % power, when known. */
  additionalUnits: number | null;
}

export interface DecisionInput {
  alpha: number;
  control: string;
  primary: { metric: string; goal: MetricGoal; margin: number | null; lowerIsBetter: boolean };
  srm: { ok: boolean; tested: boolean; pValue: number; counts: Record<string, number>; weights: Record<string, number> };
  treatments: TreatmentEvidence[];
  /** Units in all arms of the analysed phase, and the planned total (null when not planned). */
  units: number;
  plannedUnits: number | null;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${pct(x)}`;
const range = (ci: Interval) => `[${signed(ci[0])}, ${signed(ci[1])}]`;
const pv = (p: number) => (p < 1e-16 ? '< 1e-16' : p < 0.0001 ? p.toExponential(1) : p.toFixed(4));

type Verdict = 'better' | 'worse' | 'non_inferior' | 'inferior' | 'unclear';

/**
 * How the primary metric of one treatment stands. `increase`/`decrease` goals need a
 * significant (Holm-adjusted) move in their direction; `non_inferior` needs the whole
 * interval on the good side of -margin (docs/adr/0007).
 */
export function primaryVerdict(input: DecisionInput, t: TreatmentEvidence): Verdict {
  const { goal, margin, lowerIsBetter } = input.primary;
  if (t.lift === null || t.ci === null) return 'unclear';
  const good = goal === 'increase' ? 1 : goal === 'decrease' ? -1 : lowerIsBetter ? -1 : 1;
  // Work on the "higher is better" scale: flip the lift and interval when lower is better.
  const lift = good * t.lift;
  const lo = Math.min(good * t.ci[0], good * t.ci[1]);
  const hi = Math.max(good * t.ci[0], good * t.ci[1]);
  const significant = t.adjustedPValue !== null && t.adjustedPValue < input.alpha;
  if (goal === 'non_inferior') {
    const m = margin ?? 0;
    if (lo > -m) return significant && lift > 0 ? 'better' : 'non_inferior';
    if (hi < -m) return 'inferior';
    return 'unclear';
  }
  if (significant) return lift > 0 ? 'better' : 'worse';
  return 'unclear';
}

/**
 * The decision rule fixed when the experiment started (pure: same evidence, same answer).
 * In order: SRM -> stop; a shippable treatment -> ship the best one; a broken guardrail ->
 * stop; every treatment significantly worse, or the planned size reached without a winner
 * -> keep_control; otherwise continue, with the units still needed.
 */
export function decide(input: DecisionInput): Decision {
  const { primary } = input;
  const reasons: string[] = [];
  if (input.srm.tested && !input.srm.ok) {
    const counts = Object.entries(input.srm.counts).map(([k, n]) => `${k} ${n}`).join(', ');
    const weights = Object.entries(input.srm.weights).map(([k, w]) => `${k} ${pct(w)}`).join(', ');
    return {
      action: 'stop',
      reasons: [
        `Sample ratio mismatch: exposed units (${counts}) do not match the configured weights (${weights}); chi-square p = ${pv(input.srm.pValue)} < 0.001.`,
        'Assignment or logging is broken, so no comparison can be trusted: stop and investigate.',
      ],
    };
  }
  if (input.treatments.length === 0) return { action: 'continue', reasons: ['No treatment has data yet.'], unitsNeeded: null };

  const verdicts = input.treatments.map((t) => ({ t, verdict: primaryVerdict(input, t), breached: t.guardrails.filter((g) => g.status === 'breached') }));
  const shippable = verdicts.filter(({ t, verdict, breached }) => {
    if (breached.length) return false;
    if (verdict === 'better') return true;
    return verdict === 'non_inferior' && primary.goal === 'non_inferior' && (t.cheaper || t.faster);
  });
  if (shippable.length) {
    const good = primary.goal === 'decrease' || (primary.goal === 'non_inferior' && primary.lowerIsBetter) ? -1 : 1;
    const best = shippable.reduce((a, b) => ((good * (b.t.lift ?? 0)) > (good * (a.t.lift ?? 0)) ? b : a));
    const t = best.t;
    if (best.verdict === 'better') {
      reasons.push(`${t.variant} improves ${primary.metric} by ${signed(t.lift!)} (interval ${range(t.ci!)}, adjusted p = ${pv(t.adjustedPValue!)}, below ${input.alpha}).`);
    } else {
      const how = [t.cheaper ? 'cheaper per request' : '', t.faster ? 'faster' : ''].filter(Boolean).join(' and ');
      reasons.push(
        `${t.variant} is non-inferior on ${primary.metric} within the ${pct(primary.margin ?? 0)} margin (lift ${signed(t.lift!)}, interval ${range(t.ci!)}) and significantly ${how}.`,
      );
    }
    reasons.push(t.guardrails.length ? 'No guardrail is significantly worse than its margin.' : 'No guardrails are defined.');
    reasons.push('Sample ratio is as configured.');
    return { action: 'ship', winner: t.variant, reasons };
  }

  const broken = verdicts.filter((v) => v.breached.length);
  if (broken.length) {
    for (const { t, breached } of broken) {
      for (const g of breached) {
        const side = g.direction === 'increase' ? `at most ${pct(g.margin)} higher` : `at most ${pct(g.margin)} lower`;
        reasons.push(`Guardrail ${g.metric} broken by ${t.variant}: change ${range(g.ci!)} against control, but it may be ${side}.`);
      }
    }
    reasons.push('Stop the experiment to protect users; keep the control.');
    return { action: 'stop', reasons };
  }

  const worse = verdicts.filter((v) => v.verdict === 'worse' || v.verdict === 'inferior');
  if (worse.length === verdicts.length) {
    for (const { t, verdict } of worse) {
      reasons.push(
        verdict === 'worse'
          ? `${t.variant} is significantly worse on ${primary.metric}: ${signed(t.lift!)} (interval ${range(t.ci!)}, adjusted p = ${pv(t.adjustedPValue!)}).`
          : `${t.variant} is worse on ${primary.metric} than the ${pct(primary.margin ?? 0)} margin allows: interval ${range(t.ci!)}.`,
      );
    }
    return { action: 'keep_control', winner: input.control, reasons };
  }
  if (input.plannedUnits !== null && input.units >= input.plannedUnits) {
    reasons.push(`The planned ${input.plannedUnits} units are reached (${input.units}) and no treatment is better on ${primary.metric}${primary.goal === 'non_inferior' ? ' or non-inferior and cheaper or faster' : ''}.`);
    for (const { t, verdict } of verdicts) if (verdict === 'non_inferior') reasons.push(`${t.variant} is non-inferior but neither significantly cheaper nor faster.`);
    return { action: 'keep_control', winner: input.control, reasons };
  }

  const needed = input.plannedUnits !== null
    ? input.plannedUnits - input.units
    : Math.max(0, ...input.treatments.map((t) => (t.additionalUnits !== null && Number.isFinite(t.additionalUnits) ? Math.ceil(t.additionalUnits) : 0)));
  for (const { t } of verdicts) {
    if (t.lift === null || t.ci === null) reasons.push(`${t.variant}: not enough data for ${primary.metric} yet.`);
    else reasons.push(`${t.variant}: ${primary.metric} ${signed(t.lift)} (interval ${range(t.ci)}) is not conclusive yet.`);
  }
  reasons.push(
    input.plannedUnits !== null
      ? `Keep running: ${input.units} of the planned ${input.plannedUnits} units so far (${needed} more).`
      : `Keep running: about ${needed} more units give 80 % power to confirm the observed effect.`,
  );
  return { action: 'continue', reasons, unitsNeeded: needed };
}
