import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources; pick the Node platform module as Node would.
    alias: { '#platform': fileURLToPath(new URL('./src/platform/node.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Test files run src/ through the alias above; the workers, child processes and bundles they
    // start load dist/. So that both sides run the same code, test/global-setup.ts rebuilds dist/
    // (the projects of `npm run build`) before the tests whenever a source is newer than the build,
    // and before each watch-mode re-run. Chosen over making the test files import dist/ (which would
    // still need a build after every edit, and lose vitest's source-level errors and coverage): it
    // costs nothing when dist/ is fresh (`npm test` builds first, so it never builds twice) and about
    // 8 s after an edit.
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // 2 cores: at most 2 test files at once, each may spawn more workers than cores.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
})
