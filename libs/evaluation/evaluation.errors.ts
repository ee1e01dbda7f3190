import { DomainError, type FieldError } from '../errors/domain-error';

export class DatasetNotFoundError extends DomainError {
  readonly code = 'dataset-not-found';
  readonly status = 404;
  constructor(name: string, version?: number) {
    super(version === undefined ? `No dataset "${name}" in this project.` : `Dataset "${name}" has no version ${version}.`);
  }
}

/** A dataset upload past its size bounds: the errors name the case (index or line). */
export class DatasetTooLargeError extends DomainError {
  readonly code = 'dataset-too-large';
  readonly status = 413;
  constructor(errors: FieldError[]) {
    super('The dataset is larger than allowed.', errors);
  }
}
