// Lists the functions over a length limit (default 80 own lines) outside tests, so CI can
// keep orchestrators small: `npx tsx scripts/long-functions.ts [--max 80] [dir …]`.
// Exits 1 when any is found.
//
// A function's own lines are the lines of its span that are not inside a nested function:
// a nested function's first and last lines (`const f = () => {`, `};`) count for the
// function that holds it, the lines between them for the nested one. Blank lines and
// comment-only lines are not counted: a "why" comment never pushes a function over.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export interface LongFunction {
  file: string;
  name: string;
  line: number;
  ownLines: number;
}

const isTest = (file: string) => /\.test\.ts$/.test(file) || file.split('/').includes('test');

function sourceFiles(dir: string): string[] {
  if (!statSync(dir).isDirectory()) return [dir];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : sourceFiles(path);
    return /\.m?ts$/.test(e.name) && !e.name.endsWith('.d.ts') && !isTest(path) ? [path] : [];
  });
}

function nameOf(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (node.name) return node.name.getText(sf);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  // a callback: named for what it is handed to (`.action(…)`)
  if (ts.isCallExpression(parent)) {
    const callee = parent.expression;
    return `${ts.isPropertyAccessExpression(callee) ? callee.name.getText(sf) : callee.getText(sf).slice(0, 40)}(…) callback`;
  }
  return `<anonymous>`;
}

/** Lines (0-based) holding code: not blank, not only a comment. */
function codeLines(sf: ts.SourceFile): Set<number> {
  const lines = new Set<number>();
  // Every token of the tree (comments are trivia, not tokens; JSDoc nodes are skipped).
  const visit = (node: ts.Node): void => {
    if (ts.isJSDoc(node)) return;
    if (node.getChildCount(sf) === 0) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      for (let l = start; l <= end; l++) lines.add(l);
      return;
    }
    node.getChildren(sf).forEach(visit);
  };
  visit(sf);
  return lines;
}

export function longFunctionsIn(file: string, text: string, max: number): LongFunction[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const code = codeLines(sf);
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
  const found: LongFunction[] = [];

  const measure = (fn: ts.FunctionLikeDeclaration): void => {
    const first = lineOf(fn.getStart(sf));
    const last = lineOf(fn.getEnd());
    const own = new Set<number>();
    for (let l = first; l <= last; l++) if (code.has(l)) own.add(l);
    // Every nested function directly inside this one gives its inner lines to itself.
    const strip = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
        const a = lineOf(node.getStart(sf));
        const b = lineOf(node.getEnd());
        for (let l = a + 1; l < b; l++) own.delete(l);
        return;
      }
      ts.forEachChild(node, strip);
    };
    if (fn.body) ts.forEachChild(fn.body, strip);
    if (own.size > max) found.push({ file, name: nameOf(fn, sf), line: first + 1, ownLines: own.size });
  };
  const walk = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) measure(node as ts.FunctionLikeDeclaration);
    ts.forEachChild(node, walk);
  };
  walk(sf);
  return found;
}

function main(argv: string[]): number {
  const maxAt = argv.indexOf('--max');
  const max = maxAt >= 0 ? Number(argv[maxAt + 1]) : 80;
  const dirs = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--max');
  const files = (dirs.length ? dirs : ['src', 'scripts', 'bin', 'packages/client/src']).flatMap((d) => {
    try {
      return sourceFiles(d);
    } catch {
      return [];
    }
  });
  const found = files.flatMap((f) => longFunctionsIn(relative('.', f), readFileSync(f, 'utf8'), max));
  for (const f of found.sort((a, b) => b.ownLines - a.ownLines)) console.log(`${f.file}:${f.line}  ${f.name}  ${f.ownLines} own lines`);
  console.log(found.length ? `${found.length} function(s) over ${max} own lines` : `no function over ${max} own lines`);
  return found.length ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
