// Lint for what the compiler misses: promises nobody awaits or catches, promises handed to
// what expects a plain function, and `any`. Type-aware (typescript-eslint's project service
// reads tsconfig.json), so only the rules below run: formatting is Prettier's.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.agentmem/**', 'packages/*/dist/**', 'packages/client/src/generated/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['src/**/*.ts', 'bin/**/*.ts', 'scripts/**/*.ts', 'packages/client/src/**/*.ts', 'test/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
);
