import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    // End-to-end tests run real ffmpeg, Chromium and nats-server on a 2-core machine: one file at a time
    // keeps their measurements honest and their timing stable.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
