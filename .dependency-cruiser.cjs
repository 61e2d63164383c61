// dependency-cruiser: no import cycle in src/, type-only imports included. eslint's import-x/no-cycle
// skips `import type`, so a cycle of types alone would pass it. The layers stay in eslint.config.js.
/* global module */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment:
        'Modules in src/ do not import each other round in a loop, not even for types: move the shared types down.',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    // Keep imports that compile away (`import type`, type-only uses) in the graph.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
  },
};
