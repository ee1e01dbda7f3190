import { DomainError } from '../errors/domain-error';

export class ApiKeyNotFoundError extends DomainError {
  readonly code = 'api-key-not-found';
  readonly status = 404;
  constructor(id: string) {
    super(`No API key ${id} in this project.`);
  }
}
