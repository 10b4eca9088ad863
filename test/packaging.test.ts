/**
 * The built packages as a user gets them: `require()` and `import` through each package's
 * `exports` map on this Node (20), publint in strict mode, and the Express `req.apiserver`
 * augmentation surviving the d.ts bundling. Runs on `dist/`, which the root `test` script builds
 * before vitest starts.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

/** Each package and one export it must have. Koa and Fastify are checked once they have sources. */
const PACKAGES = [
  { dir: 'core', main: 'createVerifier' },
  { dir: 'express', main: 'verifyApiserverToken' },
  { dir: 'testing', main: 'startTestApiserver' },
  { dir: 'koa', main: 'verifyApiserverToken' },
  { dir: 'fastify', main: 'fastifyApiserverToken' },
  { dir: 'node', main: 'createApiserverTokenGuard' },
  { dir: 'hono', main: 'verifyApiserverToken' },
  { dir: 'nestjs', main: 'ApiserverTokenGuard' },
].filter(({ dir }) => existsSync(join(root, 'packages', dir, 'src', 'index.ts')));

const packageDir = (dir: string) => join(root, 'packages', dir);
const manifest = (dir: string) =>
  JSON.parse(readFileSync(join(packageDir(dir), 'package.json'), 'utf8')) as { name: string };

/** Runs a snippet with this Node from the package's directory, so its name resolves through its own `exports`. */
async function exportsOf(dir: string, kind: 'require' | 'import'): Promise<string[]> {
  const name = manifest(dir).name;
  const code =
    kind === 'require'
      ? `process.stdout.write(JSON.stringify(Object.keys(require(${JSON.stringify(name)})).sort()))`
      : `const m = await import(${JSON.stringify(name)}); process.stdout.write(JSON.stringify(Object.keys(m).sort()))`;
  const args = kind === 'require' ? ['-e', code] : ['--input-type=module', '-e', code];
  const { stdout } = await run(process.execPath, args, { cwd: packageDir(dir), timeout: 20_000 });
  return JSON.parse(stdout) as string[];
}

describe.each(PACKAGES)('packages/$dir (built)', ({ dir, main }) => {
  it('has been built (ESM, CJS and both kinds of declarations)', () => {
    for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']) {
      expect(
        existsSync(join(packageDir(dir), 'dist', file)),
        `dist/${file}: run \`npx pnpm@10 run build\``,
      ).toBe(true);
    }
  });

  it('can be require()d and imported, with the same exports', async () => {
    const [required, imported] = await Promise.all([exportsOf(dir, 'require'), exportsOf(dir, 'import')]);
    expect(required).toContain(main);
    // ESM namespaces of CJS-interop builds may add `default`; tsup's builds must not differ otherwise.
    expect(imported.filter((key) => key !== 'default')).toEqual(required.filter((key) => key !== 'default'));
  });

  it('packs only what a user runs: dist (no tests, no test source maps, no fixtures), README, LICENSE', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: packageDir(dir),
      timeout: 60_000,
    });
    const [packed] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
    const files = (packed?.files ?? []).map((file) => file.path);
    for (const file of [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
    ]) {
      expect(files).toContain(file);
    }
    expect(
      files.filter((file) => /(^|\/)(test|tests|fixtures|src)\/|\.test\.|\.test-d\./.test(file)),
    ).toEqual([]);
    expect(readFileSync(join(packageDir(dir), 'LICENSE'), 'utf8')).toBe(
      readFileSync(join(root, 'LICENSE'), 'utf8'),
    );
  });

  it('says where it comes from: repository (with its directory), homepage, bugs, keywords, Apache-2.0', () => {
    const pkg = manifest(dir) as unknown as Record<string, unknown>;
    expect(pkg['license']).toBe('Apache-2.0');
    expect(pkg['repository']).toMatchObject({ type: 'git', directory: `packages/${dir}` });
    expect(String(pkg['homepage'])).toMatch(/^https:\/\//);
    expect(pkg['bugs']).toMatchObject({ url: expect.stringMatching(/^https:\/\//) });
    expect((pkg['keywords'] as string[]).length).toBeGreaterThan(3);
  });

  it('passes publint --strict', async () => {
    const pkgDir = packageDir(dir);
    const { messages, pkg } = await publint({ pkgDir, strict: true, pack: 'npm' });
    const problems = messages
      .filter((message) => message.type !== 'suggestion')
      .map((message) => `${message.type}: ${formatMessage(message, pkg) ?? message.code}`);
    expect(problems).toEqual([]);
  });
});

const REPOSITORY = 'https://github.com/apiserver-token/apiserver-token/';

describe.each([...PACKAGES.map(({ dir }) => dir), 'cli'])('packages/%s README', (dir) => {
  it('links absolutely (the registry page has no repository around it), to files that exist', () => {
    const readme = readFileSync(join(packageDir(dir), 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((match) => match[1] as string);
    expect(targets.filter((target) => !/^(https?:|#)/.test(target))).toEqual([]);
    for (const target of targets.filter((t) => t.startsWith(REPOSITORY))) {
      const path = target
        .slice(REPOSITORY.length)
        .replace(/^(blob|tree)\/main\//, '')
        .split('#')[0] as string;
      expect(existsSync(join(root, path)), target).toBe(true);
    }
  });
});

/**
 * @arethetypeswrong/cli on each package as packed: its types resolve, and match the JavaScript,
 * under node10, node16 (from ESM and from CJS) and bundler resolution. The CLI is ESM only (a
 * command, whose library entry is for `import`): checked with attw's esm-only profile.
 */
describe.each([
  ...PACKAGES.map(({ dir }) => ({ dir, profile: 'strict' })),
  { dir: 'cli', profile: 'esm-only' },
])('packages/$dir types (built, packed)', ({ dir, profile }) => {
  it(`pass @arethetypeswrong/cli (profile ${profile})`, async () => {
    const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
    const output = await run(
      process.execPath,
      [attw, '--pack', '.', '--profile', profile, '--format', 'json'],
      {
        cwd: packageDir(dir),
        timeout: 110_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    ).then(
      ({ stdout }) => stdout,
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    const result = JSON.parse(output) as { analysis?: { problems?: Array<{ kind: string }> } };
    const ignored = profile === 'esm-only' ? ['CJSResolvesToESM'] : [];
    const problems = (result.analysis?.problems ?? []).filter((problem) => !ignored.includes(problem.kind));
    expect(result.analysis, output.slice(0, 500)).toBeDefined();
    expect(problems).toEqual([]);
  }, 120_000);
});

describe.each(PACKAGES.filter(({ dir }) => !['core', 'testing'].includes(dir)))(
  'packages/$dir re-exports core for documented use',
  ({ dir }) => {
    it('createVerifier, ForbiddenIdentityError, isApiserverTokenError, the error classes (built, CJS and ESM)', async () => {
      for (const kind of ['require', 'import'] as const) {
        const names = await exportsOf(dir, kind);
        for (const name of [
          'createVerifier',
          'ForbiddenIdentityError',
          'isApiserverTokenError',
          'ApiserverTokenError',
          'ApiserverTokenConfigError',
        ]) {
          expect(names, `${kind} ${name}`).toContain(name);
        }
      }
    });
  },
);

describe('express type declarations (built)', () => {
  const scratch = mkdtempSync(join(packageDir('express'), '.types-check-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('keep the req.apiserver augmentation for ESM and CJS consumers', async () => {
    const source = `import type { ApiserverIdentity } from '@apiserver-token/core';
import { type ApiserverTokenMiddleware, verifyApiserverToken } from '@apiserver-token/express';
import type { Request, RequestHandler } from 'express';
const guard: ApiserverTokenMiddleware = verifyApiserverToken({ audience: 'https://a.example/validate' });
const handler: RequestHandler = guard;
const identity = (req: Request): ApiserverIdentity | undefined => req.apiserver;
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const exact: Exact<Request['apiserver'], ApiserverIdentity | undefined> = true;
// @ts-expect-error: the augmentation is optional, not any
const wrong: string = ({} as Request).apiserver;
export { exact, handler, identity, wrong };
`;
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    // One program per module kind: a global augmentation seen in one file would apply to both.
    const check = async (file: string): Promise<[string, string]> => {
      writeFileSync(join(scratch, file), source);
      const project = join(scratch, `tsconfig.${file}.json`);
      writeFileSync(
        project,
        JSON.stringify({
          compilerOptions: {
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            target: 'ES2022',
            strict: true,
            noEmit: true,
            // Our own declarations are checked too, not only used.
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(root, 'node_modules', '@types')],
          },
          files: [file],
        }),
      );
      const output = await run(process.execPath, [tsc, '-p', project], {
        cwd: scratch,
        timeout: 110_000,
      }).then(
        () => '',
        (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
      );
      return [file, output];
    };
    const results = Object.fromEntries(await Promise.all([check('check.mts'), check('check.cts')]));
    expect(results).toEqual({ 'check.mts': '', 'check.cts': '' });
  }, 120_000);
});

describe.each(['examples/express-admission-webhook/Dockerfile', 'packages/cli/Dockerfile'])(
  '%s',
  (dockerfile) => {
    it('has an ignore file beside it (BuildKit) equal to the root one: no host node_modules, dist or .git', () => {
      const beside = readFileSync(join(root, `${dockerfile}.dockerignore`), 'utf8');
      expect(beside).toBe(readFileSync(join(root, '.dockerignore'), 'utf8'));
      const patterns = beside.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
      expect(patterns).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
      // What `pnpm install --frozen-lockfile` and the build read stays in the context.
      for (const needed of [
        'package.json',
        'pnpm-lock.yaml',
        'pnpm-workspace.yaml',
        'packages',
        'src',
        'test',
      ]) {
        expect(patterns.filter((pattern) => pattern === needed || pattern === `**/${needed}`)).toEqual([]);
      }
      // Build from the repository root, as the file says: the context the ignore file is written for.
      expect(readFileSync(join(root, dockerfile), 'utf8')).toContain(`docker build -f ${dockerfile} `);
    });
  },
);
