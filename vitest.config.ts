import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    allowOnly: !process.env.CI,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    // The closing line `N passed, N failed` is printed by test/summary-reporter.ts.
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
