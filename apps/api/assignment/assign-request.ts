import type { AssignRequest } from '../../../libs/assignment/assignment.service';
import { checkBatch, isPlainObject } from '../../../libs/errors/body-checks';
import { ValidationFailedError, type FieldError } from '../../../libs/errors/domain-error';
import { unitIdIssue } from '../../../libs/storable/storable';

/**
 * Hand-written checks for the assignment bodies. /v1/assign is the hottest route: the
 * global class-validator pipe cost 13-17 % of its CPU (bench/assign.ts profile), so these
 * bodies bypass it. The rules and messages are those of AssignDto / AssignBatchDto,
 * which still document the routes in OpenAPI.
 */
const ITEM_FIELDS = new Set(['experiment', 'unitId', 'attributes']);
export const MAX_ASSIGN_BATCH = 1000;


function checkItem(value: unknown, prefix: string, errors: FieldError[]): AssignRequest | null {
  if (!isPlainObject(value)) {
    errors.push({ field: prefix || 'body', message: 'must be an object' });
    return null;
  }
  const at = (field: string) => (prefix ? `${prefix}.${field}` : field);
  for (const key of Object.keys(value)) if (!ITEM_FIELDS.has(key)) errors.push({ field: at(key), message: `property ${key} should not exist` });
  const { experiment, unitId, attributes } = value;
  const before = errors.length;
  if (typeof experiment !== 'string') errors.push({ field: at('experiment'), message: 'must be a string' });
  else if (experiment.length < 1 || experiment.length > 64) errors.push({ field: at('experiment'), message: 'must be longer than or equal to 1 and shorter than or equal to 64 characters' });
  if (typeof unitId !== 'string') errors.push({ field: at('unitId'), message: 'must be a string' });
  else {
    // The exposure this assignment logs stores the unit id: what cannot be stored is refused here (docs/adr/0015).
    const issue = unitIdIssue(unitId);
    if (issue) errors.push({ field: at('unitId'), message: issue });
  }
  if (attributes !== undefined && !isPlainObject(attributes)) errors.push({ field: at('attributes'), message: 'must be an object' });
  return errors.length === before ? { experiment: experiment as string, unitId: unitId as string } : null;
}

export function parseAssignRequest(body: unknown): AssignRequest {
  const errors: FieldError[] = [];
  const request = checkItem(body, '', errors);
  if (errors.length || !request) throw new ValidationFailedError(errors);
  return request;
}

export function parseAssignBatch(body: unknown): AssignRequest[] {
  const { items, errors } = checkBatch(body, 'items', 1, MAX_ASSIGN_BATCH);
  if (errors.length) throw new ValidationFailedError(errors);
  const requests = items.map((item, i) => checkItem(item, `items.${i}`, errors));
  if (errors.length) throw new ValidationFailedError(errors);
  return requests as AssignRequest[];
}
