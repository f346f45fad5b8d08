/**
 * Generates the reference pages that must not drift from the code:
 *   docs/reference/configuration.md  from the zod config schema and the env var map (shared/config.ts)
 *   docs/reference/findings.md       from the finding-code vocabulary (shared/metrics.ts)
 *   docs/reference/cli.md            from the commander definitions (cli/program.ts)
 *   docs/reference/fleet.schema.json from the fleet file's zod schema (cli/ops/fleet.ts)
 * `npm run docs:gen` writes them; `--check` only compares and exits 1 when a page is out of date.
 * test/docs.test.ts runs the same render functions, so a key added without regenerating fails the tests.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { z } from 'zod';
import { fleetJsonSchema } from '../cli/ops/fleet.js';
import { renderCliReference } from '../cli/ops/reference.js';
import { buildProgram } from '../cli/program.js';
import { ConfigSchema, ENV_KEYS } from '../shared/config.js';
import { FINDING_CODES } from '../shared/metrics.js';
import { CONFIG_NOTES, FINDING_NOTES } from './docs-notes.js';

/** The repository root: the nearest folder with a package.json above this module (works from dist/ too). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('docs-gen: no package.json above this script');
    dir = up;
  }
  return dir;
}

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

interface ConfigRow {
  key: string;
  type: string;
  default: string;
  env: string;
  meaning: string;
}

const SUBJECT_TOKEN_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$';

function describeType(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => String(v)).join(' \\| ');
  if (s.type === 'array') {
    const item = s.items;
    if (item?.type === 'object' && item.properties)
      return `list of {${Object.keys(item.properties).join(', ')}}`;
    return `list of ${item ? describeType(item) : 'values'}`;
  }
  if (s.type === 'object') return 'map of string to string';
  if (s.type === 'string') {
    if (s.pattern === SUBJECT_TOKEN_PATTERN) return 'id (1-63 letters, digits, - or _)';
    if (s.pattern) return `string matching \`${s.pattern}\``;
    return s.minLength ? 'non-empty string' : 'string';
  }
  if (s.type === 'number' || s.type === 'integer') {
    const bounds: string[] = [];
    if (s.exclusiveMinimum !== undefined) bounds.push(`> ${s.exclusiveMinimum}`);
    if (s.minimum !== undefined) bounds.push(`>= ${s.minimum}`);
    if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`<= ${s.maximum}`);
    if (s.exclusiveMaximum !== undefined) bounds.push(`< ${s.exclusiveMaximum}`);
    return [s.type, ...bounds].join(' ');
  }
  return s.type ?? 'any';
}

/** The `/** ... *\/` comments on the keys of ConfigSchema in shared/config.ts, by dotted key. */
export function configComments(source: string): Map<string, string> {
  const file = ts.createSourceFile('config.ts', source, ts.ScriptTarget.ES2022, true);
  const out = new Map<string, string>();
  const objectLiteralOf = (node: ts.Node): ts.ObjectLiteralExpression | undefined => {
    // The fields of `z.strictObject({...}).prefault({})`: the literal passed to an object(...) call.
    let found: ts.ObjectLiteralExpression | undefined;
    const visit = (n: ts.Node): void => {
      if (found) return;
      if (
        ts.isCallExpression(n) &&
        ts.isPropertyAccessExpression(n.expression) &&
        /^(strictObject|object|looseObject)$/.test(n.expression.name.text)
      ) {
        const arg = n.arguments[0];
        if (arg && ts.isObjectLiteralExpression(arg)) {
          found = arg;
          return;
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
    return found;
  };
  const walk = (literal: ts.ObjectLiteralExpression, prefix: string): void => {
    for (const prop of literal.properties) {
      if (!ts.isPropertyAssignment(prop)) continue;
      const name = prop.name.getText(file).replace(/^['"]|['"]$/g, '');
      const key = prefix ? `${prefix}.${name}` : name;
      const docs = ts
        .getJSDocCommentsAndTags(prop)
        .filter(ts.isJSDoc)
        .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
        .join(' ')
        .replace(/\s+/g, ' ')
        .trim();
      if (docs) out.set(key, docs);
      const nested = objectLiteralOf(prop.initializer);
      if (nested) walk(nested, key);
    }
  };
  const visitTop = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && n.name.getText(file) === 'ConfigSchema' && n.initializer) {
      const literal = objectLiteralOf(n.initializer);
      if (literal) walk(literal, '');
      return;
    }
    ts.forEachChild(n, visitTop);
  };
  visitTop(file);
  return out;
}

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/(?<!\\)\|/g, '\\|');
}

export function configRows(root = repoRoot()): ConfigRow[] {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const comments = configComments(readFileSync(join(root, 'shared/config.ts'), 'utf8'));
  const envOf = new Map<string, string[]>();
  for (const [env, key] of Object.entries(ENV_KEYS)) envOf.set(key, [...(envOf.get(key) ?? []), env]);
  const rows: ConfigRow[] = [];
  const walk = (node: JsonSchema, prefix: string): void => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (child.type === 'object' && child.properties) {
        walk(child, key);
        continue;
      }
      rows.push({
        key,
        type: describeType(child),
        default: child.default === undefined ? '' : JSON.stringify(child.default),
        env: (envOf.get(key) ?? []).join(', '),
        meaning: CONFIG_NOTES[key] ?? child.description ?? comments.get(key) ?? '',
      });
    }
  };
  walk(schema, '');
  return rows;
}

const GENERATED_NOTE = (source: string): string =>
  `<!-- Generated by \`npm run docs:gen\` (scripts/docs-gen.ts) from ${source}. Do not edit by hand. -->`;

export function renderConfiguration(root = repoRoot()): string {
  const rows = configRows(root);
  const sections = [...new Set(rows.map((r) => r.key.split('.')[0] ?? ''))];
  const lines: string[] = [
    GENERATED_NOTE('shared/config.ts'),
    '',
    '# Configuration reference',
    '',
    'Every process (`liveprobe controller`, `liveprobe agent`, `liveprobe demo`) reads one configuration:',
    'defaults, then a config file (YAML or JSON; `--config <file>` or `LIVEPROBE_CONFIG`), then environment',
    'variables, then command-line flags. It is validated by the zod schema `ConfigSchema` in `shared/config.ts`;',
    'an unknown or bad key is an error that names the key and where it came from, for example:',
    '',
    '```text',
    'invalid configuration: agent.capacity.browser: Too small: expected number to be >0 (from env LIVEPROBE_CAPACITY_BROWSER)',
    '```',
    '',
    'A config file uses the same nesting as the keys below:',
    '',
    '```yaml',
    'nats: { url: "nats://nats-1:4222,nats://nats-2:4222", replicas: 3 }',
    'agent: { region: eu-west, capacity: { browser: 4 } }',
    'controller: { host: 0.0.0.0, tokens: [{ name: ops, role: operator, token: "at-least-16-characters" }] }',
    '```',
    '',
  ];
  for (const section of sections) {
    lines.push(
      `## ${section}`,
      '',
      '| key | env | default | type | meaning |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const r of rows.filter((row) => row.key.split('.')[0] === section)) {
      const code = (s: string): string => (s ? `\`${s}\`` : '');
      lines.push(
        `| \`${r.key}\` | ${r.env.split(', ').filter(Boolean).map(code).join(', ')} | ${code(cell(r.default))} | ${cell(r.type)} | ${cell(r.meaning)} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    '## Environment variables',
    '',
    'Each maps to one key above. `LIVEPROBE_CONFIG` names the config file. Empty values are ignored.',
    '',
    '| env | key |',
    '| --- | --- |',
    '| `LIVEPROBE_CONFIG` | (the config file) |',
    ...Object.entries(ENV_KEYS)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([env, key]) => `| \`${env}\` | \`${key}\` |`),
    '',
    `The alerting receivers read their own variables from the rules file (\`\${VAR}\` substitution), not from`,
    'this schema: see [alerting](../guides/alerting.md).',
    '',
  );
  return lines.join('\n');
}

export function renderFindings(): string {
  const lines: string[] = [
    GENERATED_NOTE('FINDING_CODES in shared/metrics.ts and scripts/docs-notes.ts'),
    '',
    '# Finding codes',
    '',
    'A finding is a conformance or timing problem the stream probe saw on one rendition (HLS: the variant URI',
    'with query values redacted, or `master`; DASH: the Representation@id, or `mpd`). Each carries `code`,',
    '`severity`, `variant`, `at` (first occurrence), `count` (repeats collapse into one finding) and `evidence`',
    '(the summary plus the relevant playlist lines, bounded to 3800 characters). A report holds at most 200',
    'findings; beyond that the rest fold into one finding per code naming the variants.',
    '',
    'The same codes appear in `/v1/summary` (`findings` by code) and in alert rules (`finding: <code>` or',
    '`finding: any`, see [rules](rules.md)). How each check works: `probes/stream/README.md`.',
    '',
    '| code | severity | raised when |',
    '| --- | --- | --- |',
  ];
  for (const code of FINDING_CODES) {
    const note = FINDING_NOTES[code];
    lines.push(
      `| \`${code}\` | ${cell(note?.severity ?? '')} | ${cell(note?.rule ?? '(not described yet)')} |`,
    );
  }
  lines.push(
    '',
    'Outcome of a stream probe report: `failed` when the master / MPD could not be loaded, every rendition has',
    'a critical finding, or the MPD itself is stale; `degraded` on any finding, reason-only observation or',
    'request error; `probe-error` when our own code failed or reloads ran > 50 % of their interval late (an',
    'overloaded agent, never a stream verdict); else `ok`.',
    '',
  );
  return lines.join('\n');
}

export interface GeneratedPage {
  path: string;
  render: () => string;
}

export function generatedPages(root = repoRoot()): GeneratedPage[] {
  return [
    { path: 'docs/reference/configuration.md', render: () => renderConfiguration(root) },
    { path: 'docs/reference/findings.md', render: () => renderFindings() },
    { path: 'docs/reference/cli.md', render: () => renderCliReference(buildProgram()) },
    {
      path: 'docs/reference/fleet.schema.json',
      render: () => `${JSON.stringify(fleetJsonSchema(), null, 2)}\n`,
    },
  ];
}

function main(argv: string[]): number {
  const root = repoRoot();
  const check = argv.includes('--check');
  let stale = 0;
  for (const page of generatedPages(root)) {
    const file = resolve(root, page.path);
    const text = page.render();
    const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    if (current === text) continue;
    if (check) {
      stale++;
      console.error(`out of date: ${page.path} (run npm run docs:gen)`);
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      console.log(`wrote ${page.path}`);
    }
  }
  return stale ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
