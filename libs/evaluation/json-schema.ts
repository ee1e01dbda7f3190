/** JSON schemas of datasets and json_schema evaluators, compiled by ajv (docs/adr/0028). */
import Ajv, { type ValidateFunction } from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

const draft07 = new Ajv({ strict: false, logger: false, allErrors: false });
const draft2020 = new Ajv2020({ strict: false, logger: false, allErrors: false });
addFormats(draft07);
addFormats(draft2020);
const compiled = new Map<string, ValidateFunction>();
const COMPILED_CACHE = 256;

/**
 * Compiles a JSON schema (draft-07 by default, draft 2020-12 when its `$schema` says so;
 * formats from ajv-formats), cached by its text. Throws with ajv's message when invalid.
 */
export function compileJsonSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) return hit;
  const ajv = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12') ? draft2020 : draft07;
  // Compile without registering under the schema's $id, so the same id may come back with other content.
  const { $id: _id, ...anonymous } = schema;
  const validate = ajv.compile(anonymous);
  if (compiled.size >= COMPILED_CACHE) compiled.delete(compiled.keys().next().value as string);
  compiled.set(key, validate);
  return validate;
}

