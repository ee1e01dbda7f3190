// Jest runs TypeScript through SWC (type checking is `npm run typecheck`'s job).
// NestJS 12 ships ESM only, so those packages are transformed to CommonJS too.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];
const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': swc },
  // ESM-only packages (NestJS 12 and some of its dependencies) must be transformed; big CommonJS ones need not be.
  transformIgnorePatterns: ['/node_modules/(typeorm|@stdlib|pg|pg-[a-z]+|ioredis|bullmq|fast-check|simple-statistics|@swc|zod|pino|class-validator|lodash|@growthbook|msgpackr)/'],
  modulePathIgnorePatterns: ['<rootDir>/dist', '<rootDir>/libs/sdk/dist'],
};
module.exports = {
  // Integration tests start real servers; a project-level testTimeout is ignored by jest.
  testTimeout: 60000,
  // Integration files mostly wait (servers, timers, lock expiries): on 2 cores jest's default of one
  // worker leaves the machine idle. Each file has its own database and Redis prefix, so they run side by side.
  maxWorkers: 3,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
