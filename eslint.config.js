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
  ...rsmLayers(),
  {
    files: ['**/config.ts', '**/*.config.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);

/**
 * The library's layers, bottom first: each folder of libs/rsm/src may import only from its own
 * layer and those below it (README, "Architecture"). The index files at the top are the public API.
 */
function rsmLayers() {
  const layers = [
    ['definition'],
    ['core'],
    ['planning'],
    ['store', 'testing'],
    ['delivery', 'timers', 'activities', 'metrics'],
    ['runtime'],
    ['nest'],
  ];
  return layers.flatMap((folders, level) => {
    const above = layers.slice(level + 1).flat();
    // The in-memory runtimes share the step planner, never the Postgres store or anything above it.
    const forbidden = folders.includes('testing') ? [...above, 'store'] : folders.includes('store') ? [...above, 'testing'] : above;
    if (forbidden.length === 0) return [];
    return [
      {
        files: folders.map((folder) => `libs/rsm/src/${folder}/**/*.ts`),
        rules: {
          'no-restricted-imports': [
            'error',
            {
              patterns: [
                {
                  group: forbidden.map((folder) => `**/${folder}/**`),
                  message: `libs/rsm layers point one way (definition <- core <- planning <- store | testing <- delivery, timers, activities, metrics <- runtime <- nest): ${folders.join('/')} may not import ${forbidden.join(', ')}.`,
                },
              ],
            },
          ],
        },
      },
    ];
  });
}
