import { DomainError } from '../errors/domain-error';

export class ReportNotFoundError extends DomainError {
  readonly code = 'report-not-found';
  readonly status = 404;
  constructor(id: string) {
    super(`No report "${id}" in this project.`);
  }
}

export class WebhookNotFoundError extends DomainError {
  readonly code = 'webhook-not-found';
  readonly status = 404;
  constructor() {
    super('This project has no webhook.');
  }
}

/** A results-page link whose signature is wrong or whose time is up. */
export class PageLinkInvalidError extends DomainError {
  readonly code = 'page-link-invalid';
  readonly status = 401;
}
