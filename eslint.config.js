// ESLint flat config: typescript-eslint recommended, plus the rule that keeps
// the core runtime-neutral (no Node modules, no `process`, no `Buffer`).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

const nodeOnly = ['src/node/**', 'src/cli/**', 'src/redis/**', 'src/platform/node.ts']

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'docs/api/**', 'verify/results/**', '.dist-next-*/**', '.dist-old-*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Scripts of the browser test page and its Web Workers.
    files: ['test/browser/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['src/**/*.ts'],
    ignores: nodeOnly,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^node:', message: 'The core must run in a browser worker: Node modules belong in src/node.' },
            { regex: '^(fs|path|os|worker_threads|http|child_process|crypto|events|util)$', message: 'Node module in the core.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'The core must run in a browser worker: no `process`.' },
        { name: 'Buffer', message: 'The core must run in a browser worker: no `Buffer`.' },
      ],
    },
  },
)
