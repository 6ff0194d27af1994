import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'

export default [
  ...neostandard({
    ts: true,
    ignores: ['**/dist/**', '**/node_modules/**', '**/.tap/**', '**/coverage/**', '**/.turbo/**']
  }),
  // Type-aware rules for promises: a rejected promise nobody handles ends the process
  // (an unhandled rejection), and a promise passed where a callback's return is ignored
  // loses its errors the same way.
  {
    files: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    ignores: ['**/*.d.ts'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname
      }
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `void promise` marks a deliberately unawaited promise (tap subtests in the shared suites)
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
