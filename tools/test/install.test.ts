/**
 * A fresh clone's first minutes: after `npm ci` the README's `npx rumpctl …`,
 * `npx rump-server …` and `npx rumprun-native …` must run the workspace's own commands, and every
 * package must declare what its sources import.
 *
 * npm links a workspace's bins when it installs, which is before the
 * `prepare` script builds dist/ — and it skips a bin whose file is missing.
 * So each bin must name a committed file (a launcher that imports dist/).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Pkg {
  name: string;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
const readPkg = (dir: string): Pkg => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Pkg;
const workspaces = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;

/** Every `[workspace dir, bin name, bin path]`. */
const bins: [string, string, string][] = workspaces.flatMap((w) =>
  Object.entries(readPkg(join(root, w)).bin ?? {}).map(([name, path]) => [w, name, path] as [string, string, string]),
);

function run(file: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 20_000, cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

describe('install: the commands a fresh clone gets from npm ci', function () {
  this.timeout(30_000);

  it('the workspaces have bins (rump-server, rumpctl, rumprun-native)', () => {
    expect(bins.map(([, n]) => n)).to.include.members(['rump-server', 'rumpctl', 'rumprun-native']);
  });

  for (const [w, name, path] of bins) {
    it(`${name}: names a committed file outside dist/ (npm links it before the build runs)`, () => {
      expect(path, `${w}/package.json bin.${name}`).to.not.match(/(^|\/)dist\//);
      expect(existsSync(join(root, w, path)), `${w}/${path}`).to.equal(true);
    });

    // (A checkout installed before the launchers existed still links dist/ directly: accepted
    // here, the test above is what a fresh clone depends on; `npm ci` relinks.)
    it(`${name}: node_modules/.bin/${name} is linked into ${w} and runs --help`, async () => {
      const link = join(root, 'node_modules/.bin', name);
      expect(existsSync(link), `${link} (run npm ci)`).to.equal(true);
      expect(realpathSync(link).startsWith(realpathSync(join(root, w)) + '/')).to.equal(true);
      const r = await run(link, ['--help']);
      expect(r.code, r.out).to.equal(0);
      expect(r.out).to.match(/^Usage: /m);
    });
  }
});

/** Bare specifiers imported by the .ts files under `dir` (not relative, not node builtins). */
function importsUnder(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|js|mjs|cjs)$/.test(e) && !e.endsWith('.d.ts')) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
          const spec = m[1] ?? m[2]!;
          if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          if (!found.has(name)) found.set(name, relative(root, p));
        }
      }
    }
  };
  walk(dir);
  return found;
}

describe('install: each package declares what its sources import', () => {
  for (const w of workspaces) {
    it(`${w}/src imports only what ${w}/package.json declares`, () => {
      const pkg = readPkg(join(root, w));
      const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), pkg.name]);
      const missing = [...importsUnder(join(root, w, 'src'))].filter(([name]) => !declared.has(name)).map(([n, f]) => `${n} (${f})`);
      expect(missing).to.deep.equal([]);
    });
  }
});

describe("install: docs/ARCHITECTURE.md's package table says what each package imports", () => {
  const doc = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
  for (const w of workspaces.filter((x) => x.startsWith('packages/'))) {
    const pkg = readPkg(join(root, w));
    it(`${pkg.name}: the "depends on" cell names every package its sources import`, () => {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${pkg.name}\` |`));
      expect(row, `a row for ${pkg.name}`).to.not.equal(undefined);
      const cell = row!.split('|')[2]!;
      const imported = [...importsUnder(join(root, w, 'src')).keys()].filter((n) => n !== pkg.name && !n.startsWith('@types/'));
      const unnamed = imported.filter((n) => !cell.includes(n.replace(/^@rumpnet\//, '')));
      expect(unnamed, row).to.deep.equal([]);
      // "(protocol only)" is a promise about the imports: only the protocol entry point.
      if (/protocol only/.test(cell)) {
        const src = [...walkFiles(join(root, w, 'src'))].map((f) => readFileSync(f, 'utf8')).join('\n');
        expect(src, `${pkg.name} imports more of @rumpnet/client than its protocol`).to.not.match(/from\s+['"]@rumpnet\/client['"]/);
      }
    });
  }
});

function* walkFiles(d: string): Generator<string> {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) yield* walkFiles(p);
    else if (e.endsWith('.ts')) yield p;
  }
}
