// ESLint (flat config): typescript-eslint's recommended rules, import cycles, and the layering of
// src/ that README.md's Architecture section draws. Formatting is Prettier's job (.prettierrc.json):
// nothing here is stylistic.
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('.', import.meta.url)); // import.meta.dirname needs Node 20.11

// The folders of src/, bottom layer first. A folder may import the folders of lower layers, not
// those of its own layer or higher ones.
const LAYERS = [
  ['util'],
  ['model'],
  ['weights'],
  ['data', 'wsi'],
  ['collections'],
  ['engine'],
  ['store', 'map'],
  ['eval'],
  ['train'],
  ['explain'],
  ['api'],
  ['server'],
  ['cli'],
];

const AREAS = LAYERS.flat();
const layerOf = (area) => LAYERS.findIndex((layer) => layer.includes(area));
const importable = (area) => AREAS.filter((other) => layerOf(other) < layerOf(area));

const layeringZones = AREAS.map((area) => ({
  target: `./src/${area}`,
  from: [
    ...AREAS.filter((other) => other !== area && !importable(area).includes(other)).map((other) => `./src/${other}`),
    './src/index.ts',
  ],
  message: importable(area).length
    ? `src/${area}/ may import only src/{${importable(area).join(',')}}/ (the layers in eslint.config.js; README: Architecture).`
    : `src/${area}/ imports nothing else from src/ (the layers in eslint.config.js; README: Architecture).`,
})).concat([
  {
    // src/index.ts, the library's entry, exports src/api/; the server and the command sit beside it.
    target: './src/index.ts',
    from: ['./src/server', './src/cli'],
    message: 'src/index.ts exports the library (src/api/ and below), not the server or the command.',
  },
  {
    target: './src',
    from: ['./test', './bench', './scripts', './web'],
    message: 'src/ does not import tests, benchmarks, scripts or the web page.',
  },
  {
    // The page runs in the browser and talks to the server over HTTP: it shares the API's types and
    // the item order (naturalCompare), nothing that needs Node.js.
    target: './web/src',
    from: './src',
    except: ['./api/schemas.ts', './util/natural-compare.ts'],
    message: 'web/src/ may import from src/ only the API types (src/api/schemas.ts) and src/util/natural-compare.ts.',
  },
]);

export default defineConfig(
  {
    ignores: [
      'dist/',
      'docs/api/',
      'node_modules/',
      'histoseek-demo/',
      'bench/results/',
      'test/fixtures/',
      '.test-output/',
      'runs/',
      '.scratch/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      // Read .ts files when following imports (import-x follows only .js files by default).
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        // Sources import each other as ./x.js (NodeNext); the file on disk is ./x.ts.
        createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'], extensionAlias: { '.js': ['.ts', '.js'] } }),
      ],
    },
    rules: {
      // Off as in eslint-config-prettier: Prettier's output can trip it, and with semicolons
      // everywhere there is no ASI hazard left for it to catch.
      'no-unexpected-multiline': 'off',
      // `let { name, params } = …` where only name is reassigned stays one statement.
      'prefer-const': ['error', { destructuring: 'all' }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { basePath: root, zones: layeringZones }],
      // Bindings that are there on purpose: `for (const _ of …) n++` (the code's `_` convention) and
      // `const { output: _o, ...rest } = config` (leaving a key out of the rest).
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['**/*.js'],
    // bin/histoseek.js and this file run on Node.js.
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
