/**
 * The docs stay true to the code: links resolve, generated reference pages are current, every shipped rule
 * has a runbook, and the API calls in the docs' code blocks name real routes with bodies the API accepts.
 * The code blocks are not executed (that would need the whole stack); this is the cheap check instead.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { SilenceRequest } from '../controller/alerting/schema.js';
import { configComments, generatedPages, repoRoot } from '../scripts/docs-gen.js';
import { Schedule, SweepRequest, Watch } from '../shared/api.js';
import { Target } from '../shared/schemas.js';

const root = repoRoot();

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}

const topLevel = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'SECURITY.md']
  .map((f) => join(root, f))
  .filter((f) => existsSync(f));
const allPages = [...topLevel, ...walk(join(root, 'docs'))];
const rel = (f: string): string => relative(root, f);

/** Pages written by the docs work; other pages (feature docs) are checked for links only. */
const OWN = new Set(
  [
    'README.md',
    'CONTRIBUTING.md',
    'docs/README.md',
    'docs/getting-started.md',
    'docs/benchmarks.md',
    ...['targets', 'schedules', 'watching', 'alerting', 'readiness', 'fleet-file'].map(
      (p) => `docs/guides/${p}.md`,
    ),
    ...['fleet', 'sizing', 'troubleshooting', 'upgrading'].map((p) => `docs/operations/${p}.md`),
    ...['architecture', 'nats-layout', 'exactly-once', 'alerting-pipeline'].map(
      (p) => `docs/internals/${p}.md`,
    ),
    ...['configuration', 'findings', 'report', 'rules'].map((p) => `docs/reference/${p}.md`),
  ].concat(walk(join(root, 'docs/runbooks')).map(rel)),
);

/** Markdown without its fenced code blocks (a `#` line in a shell block is not a heading). */
const prose = (text: string): string => text.replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = (m[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

function links(text: string): string[] {
  // The same pattern as the acceptance script, so both agree on what a link is.
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
}

describe('docs', () => {
  it('has the pages an operator needs', () => {
    for (const f of ['LICENSE', 'CHANGELOG.md', 'CONTRIBUTING.md', 'docs/getting-started.md']) {
      expect(statSync(join(root, f)).size, f).toBeGreaterThan(0);
    }
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(license).toContain('Apache License');
    expect(license).toContain('Version 2.0, January 2004');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    expect(walk(join(root, 'docs')).length).toBeGreaterThanOrEqual(12);
  });

  it('keeps the README short, with the two quick-start commands', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(10 * 1024);
    expect(readme).toContain('npm run demo');
    expect(readme).toContain('npm test');
  });

  it('every relative link resolves (and its anchor, on the docs pages)', () => {
    const broken: string[] = [];
    for (const file of allPages) {
      const text = readFileSync(file, 'utf8');
      for (const link of links(text)) {
        if (/^(https?:|mailto:)/.test(link)) continue;
        const [path = '', anchor] = link.split('#');
        const target = path ? resolve(dirname(file), path) : file;
        if (!existsSync(target)) {
          broken.push(`${rel(file)} -> ${link}`);
          continue;
        }
        if (anchor && OWN.has(rel(file)) && target.endsWith('.md')) {
          if (!anchors(readFileSync(target, 'utf8')).has(anchor))
            broken.push(`${rel(file)} -> ${link} (anchor)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('generated reference pages match what `npm run docs:gen` produces now', () => {
    for (const page of generatedPages(root)) {
      const file = join(root, page.path);
      expect(existsSync(file), `${page.path} missing: run npm run docs:gen`).toBe(true);
      expect(readFileSync(file, 'utf8'), `${page.path} is out of date: run npm run docs:gen`).toBe(
        page.render(),
      );
    }
  });

  it('the configuration page lists the env vars and the keys', () => {
    const page = readFileSync(join(root, 'docs/reference/configuration.md'), 'utf8');
    for (const env of ['NATS_URL', 'LIVEPROBE_TOKENS', 'LIVEPROBE_RULES_FILE', 'LIVEPROBE_CONFIG']) {
      expect(page).toContain(`\`${env}\``);
    }
    const rows = page.split('\n').filter((l) => /^\| `[a-z]+\.[A-Za-z.]+` \|/.test(l));
    expect(rows.length).toBeGreaterThan(20);
  });

  it('reads the comments on the config keys, for keys without a note of their own', () => {
    const comments = configComments(readFileSync(join(root, 'shared/config.ts'), 'utf8'));
    expect(comments.get('controller.rulesFile')).toMatch(/rules file/i);
    expect(comments.get('nats.replicas')).toMatch(/replicas/i);
  });

  it('every shipped rule has a runbook with what it means, three checks and whom to call', () => {
    const rules = (
      parseYaml(readFileSync(join(root, 'deploy/rules.yaml'), 'utf8')) as { rules: { id: string }[] }
    ).rules;
    expect(rules.length).toBeGreaterThan(0);
    const index = readFileSync(join(root, 'docs/runbooks/index.md'), 'utf8');
    for (const { id } of rules) {
      const file = join(root, 'docs/runbooks', `${id}.md`);
      expect(existsSync(file), `docs/runbooks/${id}.md`).toBe(true);
      const text = readFileSync(file, 'utf8');
      expect(text, id).toMatch(/^## What it means/m);
      expect(text, id).toMatch(/^## First three checks/m);
      expect(text, id).toMatch(/^## Who to call/m);
      expect(index, `runbooks/index.md links ${id}`).toContain(`(${id}.md)`);
    }
  });

  it('`liveprobe` commands in the code blocks use commands and flags the CLI defines', () => {
    const { commands, flags } = cliVocabulary();
    expect(commands.size).toBeGreaterThan(5);
    const bad: string[] = [];
    let seen = 0;
    for (const page of [...OWN].filter((f) => existsSync(join(root, f)))) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const block of text.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
        for (const { command } of shellCommands(block[1] ?? '')) {
          for (const m of command.matchAll(/(?:^|[;&|]\s*|\s)liveprobe\s+([a-z-]+)([^;&|]*)/g)) {
            seen++;
            if (!commands.has(m[1] ?? '')) bad.push(`${page}: liveprobe ${m[1]}`);
            for (const f of (m[2] ?? '').matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)) {
              if (!flags.has(f[1] ?? '')) bad.push(`${page}: liveprobe ${m[1]} ... ${f[1]}`);
            }
          }
        }
      }
    }
    expect(seen).toBeGreaterThan(3);
    expect(bad).toEqual([]);
  });

  describe('API calls in the code blocks', () => {
    const routes = apiRoutes();
    const calls = [...OWN].filter((f) => existsSync(join(root, f))).flatMap((f) => apiCalls(f));

    it('finds the calls and the routes', () => {
      expect(routes.length).toBeGreaterThan(10);
      expect(calls.filter((c) => c.body !== undefined).length).toBeGreaterThan(10);
    });

    it('name routes the controller serves', () => {
      const unknown = calls
        .filter((c) => !routes.some((r) => r.test(c.path)))
        .map((c) => `${c.page}: ${c.path}`);
      expect(unknown).toEqual([]);
    });

    it('send bodies the API accepts', () => {
      const schemas: Record<string, z.ZodType> = {
        '/v1/targets': Target,
        '/v1/sweeps': SweepRequest,
        '/v1/schedules': Schedule,
        '/v1/watches': Watch,
        '/v1/silences': SilenceRequest,
      };
      const bad: string[] = [];
      for (const call of calls) {
        const schema = schemas[call.path];
        if (call.body === undefined || !schema) continue;
        let json: unknown;
        try {
          json = JSON.parse(call.body);
        } catch (err) {
          bad.push(`${call.page}: ${call.path}: not JSON: ${(err as Error).message}`);
          continue;
        }
        const result = schema.safeParse(json);
        if (!result.success) bad.push(`${call.page}: ${call.path}: ${result.error.message}`);
      }
      expect(bad).toEqual([]);
    });
  });
});

/** Every route path registered under controller/api, as a regex (`:id` and `${...}` match one segment). */
function apiRoutes(): RegExp[] {
  const files = (function ts(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? ts(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  })(join(root, 'controller/api'));
  const paths = new Set<string>();
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(
      /['`](\/(?:v1\/|healthz|readyz|metrics|openapi)[^'`\s]*)['`]/g,
    )) {
      paths.add(m[1] ?? '');
    }
  }
  // A `:param` or `${...}` segment matches any one segment.
  const segment = (seg: string): string =>
    /^:|\$\{/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&');
  return [...paths].map((p) => new RegExp(`^${p.split('/').map(segment).join('/')}$`));
}

/** Command names and long flags defined with commander under cli/ (a cheap stand-in for running --help). */
function cliVocabulary(): { commands: Set<string>; flags: Set<string> } {
  const files = (function ts(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? ts(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  })(join(root, 'cli'));
  const commands = new Set<string>();
  const flags = new Set<string>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\.command\(\s*['"`]([a-z-]+)/g)) commands.add(m[1] ?? '');
    // `for (const action of ['drain', 'resume'])` style loops register commands from a list.
    for (const m of text.matchAll(/\.command\(\s*([a-z]+)\s*\)/g)) {
      const list = new RegExp(`const ${m[1]} of \\[([^\\]]*)\\]`).exec(text)?.[1] ?? '';
      for (const name of list.matchAll(/'([a-z-]+)'/g)) commands.add(name[1] ?? '');
    }
    for (const m of text.matchAll(/['"`](?:-[a-zA-Z], )?(--[a-z][a-z-]*)/g)) flags.add(m[1] ?? '');
  }
  return { commands, flags };
}

interface ApiCall {
  page: string;
  path: string;
  body?: string;
}

/** Shell commands of a code block: quotes, comments, line continuations and `<<EOF` bodies understood. */
function shellCommands(block: string): { command: string; heredoc?: string }[] {
  const out: { command: string; heredoc?: string }[] = [];
  const lines = block.split('\n');
  let cur = '';
  let single = false;
  let double = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    let j = 0;
    for (; j < line.length; j++) {
      const ch = line[j];
      if (!single && !double && ch === '#' && (j === 0 || /\s/.test(line[j - 1] ?? ''))) break;
      if (!double && ch === "'") single = !single;
      else if (!single && ch === '"') double = !double;
      cur += ch;
    }
    if (single || double) {
      cur += '\n';
      continue;
    }
    if (cur.endsWith('\\')) {
      cur = `${cur.slice(0, -1)} `;
      continue;
    }
    const here = /<<-?\s*'?(\w+)'?/.exec(cur);
    if (here) {
      const body: string[] = [];
      while (++i < lines.length && lines[i]?.trim() !== here[1]) body.push(lines[i] ?? '');
      out.push({ command: cur, heredoc: body.join('\n') });
    } else if (cur.trim()) out.push({ command: cur });
    cur = '';
  }
  return out;
}

function apiCalls(page: string): ApiCall[] {
  const text = readFileSync(join(root, page), 'utf8');
  const calls: ApiCall[] = [];
  for (const block of text.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
    for (const { command, heredoc } of shellCommands(block[1] ?? '')) {
      if (!/\bcurl\b/.test(command)) continue;
      const url = /(?:\$CTL|\$\{CTL\}|(?:https?:\/\/)?(?:localhost|127\.0\.0\.1):8080)(\/[^\s'"?]*)/.exec(
        command,
      );
      if (!url) continue;
      const path = (url[1] ?? '').replace(/<[^>]+>|\$\{?\w+\}?/g, 'x');
      const inline = /\s-d\s+'([\s\S]*?)'/.exec(command)?.[1];
      const raw = inline ?? (/\s-d\s+@-/.test(command) ? heredoc : undefined);
      // Shell variables inside a body stand for a stream URL in these docs.
      const body = raw?.replace(/\$\{?[A-Z_]+\}?/g, 'https://cdn.example.net/live/master.m3u8');
      calls.push({ page, path, ...(body !== undefined ? { body } : {}) });
    }
  }
  return calls;
}
