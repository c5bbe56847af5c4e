// ESLint for the widget (static/), the dashboard's script and the widget's unit tests (tests/js/): the
// recommended rules and strict equality. `npm ci && npx eslint .` (run by .ci/run).
'use strict';

const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  // build/: what building a wheel in a checkout leaves (git ignores it too).
  { ignores: ['node_modules/', '.venv/', 'bench/out/', 'build/'] },
  js.configs.recommended,
  {
    files: ['static/**/*.js', 'widget_server/dashboard/static/**/*.js'],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: 'script',
      // sharebar.js also exports its pure functions to Node when `module` exists.
      globals: { ...globals.browser, module: 'readonly' },
    },
    rules: { eqeqeq: ['error', 'always', { null: 'ignore' }] },
  },
  {
    files: ['tests/js/**/*.js', 'eslint.config.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'commonjs', globals: globals.node },
    rules: { eqeqeq: ['error', 'always', { null: 'ignore' }] },
  },
];
