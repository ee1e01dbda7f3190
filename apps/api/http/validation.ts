import { type ArgumentMetadata, ValidationPipe, type ValidationError } from '@nestjs/common';
import { ValidationFailedError, type FieldError } from '../../../libs/errors/domain-error';
import { isPlainObject } from '../../../libs/errors/body-checks';
import { findUnstorableText } from './unstorable-text';

/** Flattens class-validator's nested errors into `{ field: "variants.1.weight", message }`. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({
      field,
      message: message.startsWith(`${error.property} `) ? message.slice(error.property.length + 1) : message,
    }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

const PER_ITEM = Symbol('verdict:text-checked-per-item');

/**
 * Marks a body DTO whose items the ingestion validators check one by one, answering
 * `rejected: [{index, errors}]` for the bad ones: the global pipe then leaves unstorable
 * text in it to them instead of refusing the whole body.
 */
export function TextCheckedPerItem(): ClassDecorator {
  return (target) => Reflect.defineMetadata(PER_ITEM, true, target);
}

const NOT_DTOS: ReadonlySet<unknown> = new Set([Object, String, Number, Boolean, Array]);

/**
 * Which values the pipe scans for text Postgres cannot hold: every path parameter and
 * query, and bodies validated by a DTO class unless it is marked @TextCheckedPerItem().
 */
function scansText(metadata: ArgumentMetadata): boolean {
  if (metadata.type === 'param' || metadata.type === 'query') return true;
  if (metadata.type !== 'body') return false;
  const dto = metadata.metatype;
  return typeof dto === 'function' && !NOT_DTOS.has(dto) && Reflect.getMetadata(PER_ITEM, dto) !== true;
}

/**
 * The global pipe: whitelists DTO fields, rejects unknown ones, converts types only where
 * a DTO says so, and refuses NUL characters and lone surrogates (which Postgres cannot
 * store) in any string of a DTO body, a path parameter or a query, naming the field; a DTO
 * body must be a JSON object (`null` or `[]` is not an empty change).
 * Every Nest route gets it; the plain Fastify routes (docs/adr/0012) check their own bodies.
 */
class StorableValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const scans = scansText(metadata);
    if (scans && metadata.type === 'body' && metadata.data === undefined && value !== undefined && !isPlainObject(value)) {
      throw new ValidationFailedError([{ field: 'body', message: 'must be a JSON object' }]);
    }
    const textErrors = scans ? findUnstorableText(value, metadata.data ?? '') : [];
    if (!textErrors.length) return super.transform(value, metadata);
    const otherErrors = await super.transform(value, metadata).then(
      () => [],
      (error: unknown) => {
        if (error instanceof ValidationFailedError) return error.errors ?? [];
        throw error;
      },
    );
    throw new ValidationFailedError([...textErrors, ...otherErrors]);
  }
}

export function createValidationPipe(): ValidationPipe {
  return new StorableValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ValidationFailedError(flattenValidationErrors(errors)),
  });
}
