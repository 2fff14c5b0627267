// `npm run build` (run by `npm install` as `prepare`): src/ compiled to dist/ with tsc's
// emit only (type checking is `npm run typecheck`), and every other file of src/ (SQL
// migrations, the playground) copied beside it. bin/agentmem.js runs dist/ when it is
// newer than every file of src/, so production pays no TypeScript loader.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
for (const file of files(src).filter((f) => !f.endsWith('.ts'))) {
  const to = join(dist, relative(src, file));
  mkdirSync(dirname(to), { recursive: true });
  cpSync(file, to);
}
// bin/agentmem.js compares this with the sources' times.
writeFileSync(join(dist, '.built'), String(started));
