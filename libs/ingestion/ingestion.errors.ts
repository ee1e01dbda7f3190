import { TooManyRequestsError, UnavailableError } from '../errors/domain-error';

/** The queue backend (Redis or Postgres) is unreachable or did not confirm the enqueue in time: nothing in the request was acknowledged. */
export class IngestionUnavailableError extends UnavailableError {
  constructor(reason: string) {
    super(`Outcomes cannot be enqueued right now (${reason}); nothing in this request was accepted. Retry later.`, 5);
  }
}

/** The outcomes queue is deeper than the configured limit: the workers are behind. */
export class IngestionBackloggedError extends TooManyRequestsError {
  constructor(depth: number, limit: number) {
    super(`The outcomes queue holds ${depth} jobs (limit ${limit}); nothing in this request was accepted. Retry later.`, 2);
  }
}
