import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end suites start real daemons on fixed state dirs; run files one at a time there.
    fileParallelism: false,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
