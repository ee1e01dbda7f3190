/** A problem with a single field of a request, as reported in problem+json `errors`. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * The base of every error a context raises on purpose. Each subclass has a stable
 * `code` (the problem type) and an HTTP status; the API's exception filter turns
 * them into application/problem+json.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  readonly errors?: FieldError[];
  readonly headers?: Record<string, string>;

  constructor(message: string, errors?: FieldError[]) {
    super(message);
    this.errors = errors;
  }
}

export class ValidationFailedError extends DomainError {
  readonly code = 'validation-failed';
  readonly status = 400;
  constructor(errors: FieldError[], message = 'The request is not valid.') {
    super(message, errors);
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'not-found';
  readonly status = 404;
}

export class ConflictError extends DomainError {
  readonly code = 'conflict';
  readonly status = 409;
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'unauthenticated';
  readonly status = 401;
  override readonly headers = { 'www-authenticate': 'Bearer' };
}

export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
  readonly status = 403;
}

export class UnavailableError extends DomainError {
  readonly code = 'unavailable';
  readonly status = 503;
  override readonly headers: Record<string, string>;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.headers = { 'retry-after': String(retryAfterSeconds) };
  }
}

export class TooManyRequestsError extends DomainError {
  readonly code = 'too-many-requests';
  readonly status = 429;
  override readonly headers: Record<string, string>;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.headers = { 'retry-after': String(retryAfterSeconds) };
  }
}
