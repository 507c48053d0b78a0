// Mutation testing, a habit rather than a CI gate: `npm run mutate -- lib/aws/event-publisher.ts` mutates
// that one module and runs the Vitest tests that import it (see README "Mutation testing").
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // Only the test files whose import graph reaches the mutated module, not the whole suite.
  vitest: { related: true },
  coverageAnalysis: 'perTest',
  // TypeScript 7 has no JS API: the typescript checker cannot run, and Stryker's tsconfig rewriting
  // (which imports `typescript`) is skipped when the file does not exist. tsc still runs in `npm test`.
  checkers: [],
  tsconfigFile: 'stryker-has-no-tsconfig.json',
  // Build output need not be copied into the sandbox.
  ignorePatterns: ['.serverless', '.esbuild', 'coverage'],
  // Handler tests start loopback servers; two sandboxes keep the 2-core machine unsaturated.
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html'],
  thresholds: { high: 90, low: 80, break: null },
};
