/**
 * Every TypeScript and JavaScript code block of the root README and the package READMEs, as a
 * user copies it: type-checked under `strict` in a project of its own (test/snippets, which
 * depends on the packages through their built exports, as an installed package is seen), and the
 * webhooks among them started and called — a genuine and a forged token — with the testing kit as
 * their kube-apiserver. A webhook block imports only what the `npm install` line above it
 * installs, and every block and adapter `@example` mounts its body parser after the guard.
 *
 * A block is a whole program unless an HTML comment right before it says otherwise:
 * - `<!-- snippet: fragment … -->`: a piece of a program; the comment's further lines are the
 *   code it assumes (imports, `declare const app: …`), type-checked together with the block;
 * - `<!-- snippet: webhook -->`: a whole program that serves a webhook on `process.env.PORT`;
 *   it is run with the kit's issuer and CA in `APISERVER_TOKEN_ISSUER`/`APISERVER_TOKEN_CA_FILE`
 *   (and, for an HTTPS server, a certificate from the kit as `tls.crt`/`tls.key`);
 * - `<!-- snippet: vitest -->`: a whole test file, run with vitest as its reader would.
 * Runs on `dist/`, which the root `test` script builds before vitest starts.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type AddressInfo, createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const project = join(root, 'test', 'snippets');

type Kind = 'program' | 'fragment' | 'webhook' | 'vitest';
interface Snippet {
  /** `README.md:38`: the file and the line of the opening fence. */
  readonly where: string;
  readonly lang: 'ts' | 'js';
  readonly kind: Kind;
  /** What a fragment assumes, from its marker comment. */
  readonly given: string;
  readonly code: string;
  /** The last `npm install …` line above the block in its file: what a reader installed. */
  readonly install: string;
}

const MARKER = /^<!--\s*snippet:\s*([a-z]+)([\s\S]*?)-->\s*$/;

/** The ts/js blocks of one markdown file, each with the marker comment right above it. */
function extractSnippets(file: string, markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] ?? '');
    if (open === null) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    const lang = open[1] === 'ts' || open[1] === 'typescript' ? 'ts' : open[1] === 'js' ? 'js' : undefined;
    if (lang !== undefined) {
      // The marker ends on the line above the fence (a comment may span several lines).
      let start = i - 1;
      if ((lines[start] ?? '').trimEnd().endsWith('-->')) {
        while (start > 0 && !(lines[start] ?? '').startsWith('<!--')) start--;
      }
      const comment =
        start < i - 1 || (lines[i - 1] ?? '').startsWith('<!--') ? lines.slice(start, i).join('\n') : '';
      const marker = MARKER.exec(comment);
      const kind = marker?.[1] ?? 'program';
      if (kind !== 'program' && kind !== 'fragment' && kind !== 'webhook' && kind !== 'vitest') {
        throw new Error(`${file}:${i + 1}: unknown snippet marker "${kind}"`);
      }
      snippets.push({
        where: `${file}:${i + 1}`,
        lang,
        kind,
        given: kind === 'fragment' ? (marker?.[2] ?? '').trim() : '',
        code: lines.slice(i + 1, end).join('\n'),
        install:
          lines
            .slice(0, i)
            .reverse()
            .find((line) => /^npm install /.test(line)) ?? '',
      });
    }
    i = end;
  }
  return snippets;
}

const READMES = [
  'README.md',
  ...readdirSync(join(root, 'packages'))
    .sort()
    .map((dir) => `packages/${dir}/README.md`)
    .filter((file) => {
      try {
        readFileSync(join(root, file));
        return true;
      } catch {
        return false;
      }
    }),
];
const SNIPPETS = READMES.flatMap((file) => extractSnippets(file, readFileSync(join(root, file), 'utf8')));
const fileName = (snippet: Snippet) => `${snippet.where.replace(/[/:.]/g, '_')}.mts`;

describe('README code blocks', () => {
  it('are found in every README, and the webhooks among them are marked to run', () => {
    expect(SNIPPETS.length).toBeGreaterThan(25);
    const webhooks = SNIPPETS.filter((snippet) => snippet.kind === 'webhook').map((s) => s.where);
    // The quickstart of each adapter serves: at least the root README's four.
    expect(webhooks.filter((where) => where.startsWith('README.md:'))).toHaveLength(4);
  });

  it('that serve a webhook import only what the install line above them installs', () => {
    for (const snippet of SNIPPETS.filter((s) => s.kind === 'webhook')) {
      const installed = snippet.install.split(/\s+/).slice(2);
      const imported = [...snippet.code.matchAll(/^import (?:[^'"]+ from )?'([^']+)'/gm)]
        .map((match) => match[1] as string)
        .filter((specifier) => !specifier.startsWith('node:'))
        .map((specifier) =>
          specifier
            .split('/')
            .slice(0, specifier.startsWith('@') ? 2 : 1)
            .join('/'),
        );
      expect(
        imported.filter((name) => !installed.includes(name)),
        `${snippet.where}: not in "${snippet.install}"`,
      ).toEqual([]);
    }
  });

  it('mark their fragments with what the fragment assumes', () => {
    for (const snippet of SNIPPETS.filter((s) => s.kind === 'fragment')) {
      expect(snippet.given, `${snippet.where}: a fragment names what it assumes`).not.toBe('');
    }
  });
});

/** The `@example` blocks of the adapters' sources (shown by editors from the d.ts). */
const EXAMPLES = readdirSync(join(root, 'packages'))
  .filter((dir) => !['core', 'testing', 'cli'].includes(dir))
  .flatMap((dir) => {
    const src = join(root, 'packages', dir, 'src');
    return readdirSync(src)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) => {
        const text = readFileSync(join(src, file), 'utf8');
        return [...text.matchAll(/@example\s*\n\s*\*\s*```ts\n([\s\S]*?)\n\s*\*\s*```/g)].map((match) => ({
          where: `packages/${dir}/src/${file}`,
          code: (match[1] ?? '').replace(/^\s*\* ?/gm, ''),
        }));
      });
  });

describe('the advice on body parsers', () => {
  const GUARD = /verifyApiserverToken\(|createApiserverTokenGuard\(/;
  const PARSER = /express\.json\(|bodyParser(\.json)?\(/;

  it('is one in READMEs and @examples: the parser after the guard', () => {
    const blocks = [...SNIPPETS, ...EXAMPLES].filter(
      (block) => PARSER.test(block.code) && GUARD.test(block.code),
    );
    expect(blocks.length).toBeGreaterThan(4);
    for (const block of blocks) {
      const guard = block.code.search(GUARD);
      const parser = block.code.search(PARSER);
      expect(parser, `${block.where}: the body parser comes before the guard`).toBeGreaterThan(guard);
    }
  });
});

describe('README code blocks type-check under strict', () => {
  const scratch = join(project, `.check-${process.pid}`);
  let diagnostics = new Map<string, string[]>();

  beforeAll(async () => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch, { recursive: true });
    for (const snippet of SNIPPETS) {
      // `export {}`: each block is a module of its own, whatever it declares.
      const text = `${snippet.given}\n${snippet.code}\nexport {};\n`;
      writeFileSync(join(scratch, fileName(snippet)), text);
    }
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../tsconfig.base.json',
        compilerOptions: {
          noEmit: true,
          declaration: false,
          sourceMap: false,
          // A user's NestJS project compiles its decorators so.
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          types: ['node'],
        },
        include: ['*.mts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(
      process.execPath,
      [tsc, '-p', join(scratch, 'tsconfig.json'), '--pretty', 'false'],
      {
        cwd: scratch,
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    ).then(
      ({ stdout }) => stdout,
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    diagnostics = new Map();
    for (const line of result.split('\n')) {
      const file = /^([^(\s]+\.mts)\(/.exec(line)?.[1];
      if (file === undefined) continue;
      const key = file.split('/').pop() as string;
      diagnostics.set(key, [...(diagnostics.get(key) ?? []), line]);
    }
    if (diagnostics.size === 0 && result.trim() !== '') diagnostics.set('(tsc)', [result]);
  }, 300_000);

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('tsc ran over the blocks and reported nothing outside them', () => {
    expect(diagnostics.get('(tsc)')).toBeUndefined();
  });

  it.each(SNIPPETS.map((snippet) => [snippet.where, snippet] as const))('%s', (_where, snippet) => {
    expect(diagnostics.get(fileName(snippet)) ?? []).toEqual([]);
  });
});

/** A free port on 127.0.0.1 (the snippet listens on it moments later). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** POSTs JSON with a bearer token, over HTTPS trusting `ca` when given. */
function post(url: URL, token: string, body: unknown, ca?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const options = {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      },
      timeout: 20_000,
      ...(ca !== undefined && { ca }),
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: compared as text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url.href}: no answer in 20 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Waits until something accepts connections on the port, or the process exits. */
async function listening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the snippet exited (${child.exitCode}):\n${output()}`);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1');
    });
    if (connected) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the snippet did not listen on ${port} within 60 s:\n${output()}`);
}

const CALLER = { namespace: 'kube-system', serviceAccount: 'webhook-auth' } as const;

describe.each(
  SNIPPETS.filter((snippet) => snippet.kind === 'webhook').map(
    (snippet) => [snippet.where, snippet] as const,
  ),
)('README webhook %s, run as written', (_where, snippet) => {
  let api: TestApiserver;
  let child: ChildProcess | undefined;
  let output = '';
  let url: URL;
  let audience: string;
  const dir = join(project, `.run-${process.pid}-${fileName(snippet).replace(/\.mts$/, '')}`);

  beforeAll(async () => {
    api = await startTestApiserver();
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const js =
      snippet.lang === 'js'
        ? snippet.code
        : ts.transpileModule(snippet.code, {
            compilerOptions: {
              module: ts.ModuleKind.ESNext,
              target: ts.ScriptTarget.ES2022,
              experimentalDecorators: true,
              emitDecoratorMetadata: true,
            },
          }).outputText;
    writeFileSync(join(dir, 'server.mjs'), js);
    const https = /from 'node:https'/.test(snippet.code);
    if (https) {
      const tls = await api.issueServerCertificate();
      writeFileSync(join(dir, 'tls.crt'), tls.cert);
      writeFileSync(join(dir, 'tls.key'), tls.key);
    }
    const found = /audience: '([^']+)'/.exec(snippet.code)?.[1];
    if (found === undefined) throw new Error(`${snippet.where}: no audience: '…' in the block`);
    audience = found;
    const port = await freePort();
    url = new URL(new URL(audience).pathname, `${https ? 'https' : 'http'}://127.0.0.1:${port}`);
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('APISERVER_TOKEN_')) env[name] = value;
    }
    child = spawn(process.execPath, ['server.mjs'], {
      cwd: dir,
      env: {
        ...env,
        PORT: String(port),
        APISERVER_TOKEN_ISSUER: api.issuer,
        APISERVER_TOKEN_CA_FILE: api.caPath,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    await listening(port, child, () => output);
  }, 120_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const review = (uid: string) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, resource: { group: 'apps', version: 'v1', resource: 'deployments' } },
  });

  it('answers a genuine token of the apiserver', async () => {
    const token = await api.mintToken({ ...CALLER, audiences: [audience], expiresIn: 600 });
    const answer = await post(url, token, review('genuine-1'), api.ca);
    expect(answer.status, output).toBe(200);
    const response = (answer.body as { response?: { uid?: string; allowed?: boolean } }).response;
    if (response !== undefined) expect(response).toMatchObject({ uid: 'genuine-1', allowed: true });
    if (/'called by'/.test(snippet.code)) {
      expect(output).toContain('called by system:serviceaccount:kube-system:webhook-auth');
    }
    expect(output).not.toContain(token);
  });

  it('refuses a token signed with a foreign key', async () => {
    const forged = await api.mintToken({ ...CALLER, audiences: [audience], signWith: 'foreign' });
    const answer = await post(url, forged, review('forged-1'), api.ca);
    if (answer.status === 200) {
      // An AdmissionReview denial (respond: 'admission-review').
      expect(answer.body).toMatchObject({
        response: { uid: 'forged-1', allowed: false, status: { code: 401 } },
      });
    } else {
      expect(answer.status).toBe(401);
    }
    expect(output).not.toContain(forged);
  });
});

describe.each(
  SNIPPETS.filter((snippet) => snippet.kind === 'vitest').map((snippet) => [snippet.where, snippet] as const),
)('README test file %s', (_where, snippet) => {
  const dir = join(project, `.run-${process.pid}-${fileName(snippet).replace(/\.mts$/, '')}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes when run with vitest', async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'webhook.test.ts'), snippet.code);
    // Its own root and no config file: the file alone, as in a new project.
    writeFileSync(join(dir, 'vitest.config.mjs'), 'export default {};\n');
    const vitest = join(project, 'node_modules', 'vitest', 'vitest.mjs');
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('APISERVER_TOKEN_') && !name.startsWith('VITEST')) env[name] = value;
    }
    const { stdout } = await run(process.execPath, [vitest, 'run', '--root', dir, '--reporter=json'], {
      cwd: dir,
      env,
      timeout: 170_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`vitest failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
    });
    const report = JSON.parse(stdout) as { numTotalTests: number; numPassedTests: number };
    expect(report.numTotalTests).toBeGreaterThan(3);
    expect(report.numPassedTests).toBe(report.numTotalTests);
  }, 180_000);
});
