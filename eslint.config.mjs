import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'libs/sdk/dist/**', 'coverage/**', 'artifacts/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings through libs/config.' }],
    },
  },
  { files: ['libs/config/**', 'test/**', 'bench/**', 'scripts/**', 'examples/**'], rules: { 'no-restricted-properties': 'off' } },
  { files: ['**/*.spec.ts', 'test/**'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
