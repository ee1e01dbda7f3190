import { DomainError } from '../errors/domain-error';

/** Concluding "with the recommendation" when the rule recommends no winner yet. */
export class DecisionNotActionableError extends DomainError {
  readonly code = 'decision-not-actionable';
  readonly status = 409;
}

export class PhaseNotFoundError extends DomainError {
  readonly code = 'phase-not-found';
  readonly status = 404;
}
