#!/usr/bin/env node
// Runs the build in dist/ (made by `npm install`, or `npm run build`) when it is newer than
// every file of src/; otherwise the TypeScript sources through tsx's loader, so an edit is
// live without a build step (the loader costs CPU on every request: production runs dist/).
import { readdirSync, readFileSync, statSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const path = new URL(e.name + (e.isDirectory() ? '/' : ''), dir);
    return Math.max(max, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }, 0);

let built = 0;
try {
  built = Number(readFileSync(new URL('dist/.built', root), 'utf8'));
} catch {
  // never built
}
if (built > newest(new URL('src/', root))) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
