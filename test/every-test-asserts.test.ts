import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * #18 "Every test asserts something": each it()/test() body in the repository's test files must contain an
 * assertion (`expect`, `assert`) — a test that only runs code proves nothing but that it did not throw. A
 * body whose assertions live in a helper says so in the body with an `expect` of its own.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TEST_CALL = /^(it|test)(\.(only|concurrent|fails|sequential))?$|^(it|test)\.(skipIf|runIf|each|for)\b/;

/** Test files under the repository (not node_modules, dist or dot directories), relative paths. */
function testFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist' && !e.name.startsWith('.'))
        out.push(...testFiles(rel));
    } else if (e.name.endsWith('.test.ts')) out.push(rel);
  }
  return out;
}

function bodiesWithoutAssertions(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isCallExpression(n)) {
      let callee = n.expression;
      // it.skipIf(cond)('name', fn): the callee is itself a call.
      if (ts.isCallExpression(callee)) callee = callee.expression;
      if (TEST_CALL.test(callee.getText(src).replace(/\s+/g, ''))) {
        const fn = n.arguments.find((a) => ts.isArrowFunction(a) || ts.isFunctionExpression(a));
        if (fn && !/\b(expect|assert)\b/.test(fn.getText(src))) {
          const { line } = src.getLineAndCharacterOfPosition(n.getStart(src));
          out.push(`${file}:${line + 1} ${n.arguments[0]?.getText(src).slice(0, 80)}`);
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

describe('every test asserts something', () => {
  it('no it()/test() body in a test file is without an assertion', () => {
    const files = testFiles();
    expect(files.length).toBeGreaterThan(50);
    expect(files.flatMap(bodiesWithoutAssertions)).toEqual([]);
  });
});
