/* eslint-disable @typescript-eslint/no-require-imports, no-undef -- a CommonJS require hook, loaded with node -r */
// Runs TypeScript directly (node -r ./scripts/register-swc.cjs file.ts), compiled by SWC as
// jest does: the benchmarks and the fault tests' worker processes need no prior build.
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compile(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
