#!/usr/bin/env node
// Bundles the command-center page (ui/) into dist/ui: app.js + app.css (esbuild), index.html copied.
// Type checking is tsc's job (npm run build runs `tsc -p ui/tsconfig.json` first).
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'ui', 'src', 'main.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: out,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(root, 'ui', 'public', 'index.html'), join(out, 'index.html'));
/** Gzipped size of what the page loads (JS + CSS), in KB: the budget is 200. */
export const bundleKbGz = () =>
  ['app.js', 'app.css'].reduce((sum, f) => sum + gzipSync(readFileSync(join(out, f))).length, 0) / 1024;
if (process.argv.includes('--size'))
  console.log(`ui bundle: ${bundleKbGz().toFixed(1)} KB gzipped (JS + CSS)`);
