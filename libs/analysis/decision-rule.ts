import type { MetricGoal } from '../experiments/experiment.types';
import type { Decision, GuardrailStatus, Interval, OfflineCandidateStage, OfflineStage } from './results.types';

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
  /** The offline stage per treatment, as found (treatments without a complete run are `not_evaluated`): docs/adr/0035. */
  offline?: readonly OfflineCandidateStage[];
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
 * -> keep_control; otherwise continue, with the units still needed. The offline stage
 * (docs/adr/0035) gates ship only: a treatment whose latest complete offline run says
 * not ready is never shipped on live evidence (continue, with that reason, when it was the
 * one to ship); it never turns a stop into anything else. `decision.offline` carries the stage.
 */
export function decide(input: DecisionInput): Decision {
  const offline = offlineStage(input.treatments.map((t) => t.variant), input.offline ?? []);
  const blocked = new Set<string>();
  const live = liveRule(input, offline, blocked);
  // A not-ready offline stage is always among the reasons (once: a blocked ship already names it).
  const notes = offline.candidates
    .filter((c) => c.action === 'not_ready' && !blocked.has(c.variant))
    .map((c) => `Offline evaluation says ${c.variant} is not ready for live traffic (${offlineRun(c)}): ${c.reasons.join(' ')}`);
  return { ...live, reasons: [...live.reasons, ...notes], offline };
}

/**
 * The offline stage of the decision from what the latest complete runs say per treatment:
 * `not_ready` when one of them is not ready, `ready_for_live` when the evaluated ones all are,
 * `not_evaluated` when no treatment has a complete run (docs/adr/0035).
 */
export function offlineStage(treatments: readonly string[], found: readonly OfflineCandidateStage[]): OfflineStage {
  const candidates: OfflineCandidateStage[] = treatments.map(
    (variant) =>
      found.find((f) => f.variant === variant) ?? {
        variant,
        action: 'not_evaluated',
        evaluationId: null,
        dataset: null,
        datasetVersion: null,
        finishedAt: null,
        reasons: [`${variant}: no complete offline evaluation run compared it with the control.`],
      },
  );
  const evaluated = candidates.filter((c) => c.action !== 'not_evaluated');
  const action = evaluated.some((c) => c.action === 'not_ready') ? 'not_ready' : evaluated.length ? 'ready_for_live' : 'not_evaluated';
  const latest = evaluated.reduce<OfflineCandidateStage | null>((a, c) => (a === null || (c.finishedAt ?? '') > (a.finishedAt ?? '') ? c : a), null);
  return {
    action,
    evaluationId: latest?.evaluationId ?? null,
    finishedAt: latest?.finishedAt ?? null,
    reasons: evaluated.length ? [...new Set(evaluated.flatMap((c) => c.reasons))] : ['No complete offline evaluation run yet.'],
    candidates,
  };
}

function offlineRun(c: OfflineCandidateStage): string {
  return `run ${c.evaluationId} on dataset ${c.dataset} v${c.datasetVersion}`;
}

/**
 * The live rule, with the offline stage as a gate on ship only: a treatment whose latest
 * complete offline run says not ready is not shipped on live evidence; SRM and broken
 * guardrails stop as before, whatever the offline stage says.
 */
function liveRule(input: DecisionInput, offline: OfflineStage, blockedOut: Set<string>): Omit<Decision, 'offline'> {
  const { primary } = input;
  const notReady = new Map(offline.candidates.filter((c) => c.action === 'not_ready').map((c) => [c.variant, c]));
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
  const liveShippable = verdicts.filter(({ t, verdict, breached }) => {
    if (breached.length) return false;
    if (verdict === 'better') return true;
    return verdict === 'non_inferior' && primary.goal === 'non_inferior' && (t.cheaper || t.faster);
  });
  // The offline gate: live evidence alone never ships a treatment its offline run found not ready.
  const blocked = liveShippable.filter(({ t }) => notReady.has(t.variant));
  const shippable = liveShippable.filter(({ t }) => !notReady.has(t.variant));
  const blockedReasons = blocked.map(({ t }) => {
    blockedOut.add(t.variant);
    const stage = notReady.get(t.variant)!;
    return `${t.variant} would ship on live evidence, but offline evaluation says not ready (${offlineRun(stage)}): ${stage.reasons.join(' ')}`;
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
    const stage = offline.candidates.find((c) => c.variant === t.variant);
    if (stage?.action === 'ready_for_live') reasons.push(`Offline evaluation says ${t.variant} is ready for live traffic (${offlineRun(stage)}).`);
    reasons.push(...blockedReasons);
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
    reasons.push(...blockedReasons);
    return { action: 'stop', reasons };
  }

  if (blocked.length) {
    reasons.push(...blockedReasons);
    reasons.push('Keep running: fix the candidate and run the offline evaluation again, or conclude with an explicit winner to override.');
    return { action: 'continue', reasons, unitsNeeded: null };
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
