// Type-checked lint for the whole monorepo. Floating promises are errors: an unawaited promise in a
// runtime that promises exactly-once is a bug until proven otherwise.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'eslint.config.js', 'load-tests/k6/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read the environment only in a config.ts file.' }],
    },
  },
  {
    // Machine data is plain JSON keyed by ids from outside: `data.x[id]` reads Object.prototype for
    // `constructor`, and `data.x['__proto__'] = v` replaces a prototype. Machines use ownGet/ownSet.
    files: ['apps/**/*.machine.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[computed=true][property.type!='Literal']",
          message: 'Index machine data with ownGet/ownSet/ownDelete from #contracts (prototype-safe), not obj[key].',
        },
        { selector: "CallExpression[callee.object.name='Object'][callee.property.name='assign']", message: 'Object.assign copies __proto__ from outside input; spread into a new object or set known fields.' },
      ],
    },
  },
  {
    files: ['**/config.ts', '**/*.config.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
