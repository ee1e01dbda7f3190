import { DomainError } from '../errors/domain-error';

export class ExperimentNotFoundError extends DomainError {
  readonly code = 'experiment-not-found';
  readonly status = 404;
  constructor(key: string) {
    super(`No experiment "${key}" in this project.`);
  }
}

export class ExperimentExistsError extends DomainError {
  readonly code = 'experiment-exists';
  readonly status = 409;
  constructor(key: string) {
    super(`An experiment with key "${key}" already exists in this project.`, [
      { field: 'key', message: 'is already used in this project' },
    ]);
  }
}

export class InvalidTransitionError extends DomainError {
  readonly code = 'invalid-transition';
  readonly status = 409;
}

/** A change that the experiment's state forbids (for example new metrics after the start). */
export class ExperimentLockedError extends DomainError {
  readonly code = 'experiment-locked';
  readonly status = 409;
}

export class LayerOverlapError extends DomainError {
  readonly code = 'layer-overlap';
  readonly status = 409;
}
