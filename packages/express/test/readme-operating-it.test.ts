/**
 * Runs every `ts` snippet of the README's "Operating it" section, as written there, against the
 * testing kit: each becomes a module whose free names (`app`, `audience`, `handler`, and
 * `verifyApiserverToken` unless it imports it) come from this file; the kit is trusted through
 * `APISERVER_TOKEN_*` variables, as in a pod. Then each app is served and called over a socket.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApiserver } from '../../../test/helpers/test-apiserver.js';
import { listen } from './helpers.js';
import { snippetApps } from './readme-snippet-harness.js';

const kit = useTestApiserver();
const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const OUT = fileURLToPath(new URL('./.readme-snippets/', import.meta.url));

/** The `ts` code blocks between "## Operating it" and the next top-level section. */
function operatingItSnippets(): string[] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('\n## Operating it\n');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
}

const snippets = operatingItSnippets();
const saved: Record<string, string | undefined> = {};
const closers: Array<() => Promise<void>> = [];

beforeAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const caFile = join(OUT, 'ca.crt');
  writeFileSync(caFile, kit.api.ca);
  const env = { APISERVER_TOKEN_ISSUER: kit.api.issuer, APISERVER_TOKEN_CA_FILE: caFile };
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});
afterAll(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(OUT, { recursive: true, force: true });
});

/** The middlewares the snippet mounted that own a verifier, to close them after the test. */
function guardsOf(app: Express): Array<{ close(): Promise<void> }> {
  const found = new Set<{ close(): Promise<void> }>();
  type Layer = { handle?: unknown; route?: { stack: Layer[] } };
  const visit = (layers: Layer[]) => {
    for (const layer of layers) {
      const handle = layer.handle as { close?: unknown; verifier?: unknown } | undefined;
      if (typeof handle?.close === 'function' && handle.verifier !== undefined) {
        found.add(handle as { close(): Promise<void> });
      }
      if (layer.route !== undefined) visit(layer.route.stack);
    }
  };
  visit((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return [...found];
}

async function run(index: number, snippet: string) {
  const imported = /import\s*\{[^}]*\bverifyApiserverToken\b[^}]*\}/.test(snippet);
  const module = [
    `import { snippetHarness } from '../readme-snippet-harness.js';`,
    imported ? '' : `import { verifyApiserverToken } from '@apiserver-token/express';`,
    `const { app, audience, handler } = snippetHarness(${index});`,
    snippet,
  ].join('\n');
  const file = join(OUT, `snippet-${index}.ts`);
  writeFileSync(file, module);
  await import(/* @vite-ignore */ file);
  const app = snippetApps.get(index) as Express;
  const server = await listen(app);
  closers.push(server.close, ...guardsOf(app).map((guard) => () => guard.close()));
  return server.url;
}

const post = (url: string, token: string) =>
  fetch(`${url}/validate`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

describe('README, Operating it: every snippet runs', () => {
  it('finds the snippets (diagnostics, observe, readiness, metrics)', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(4);
    expect(snippets.some((snippet) => snippet.includes('pinoHttp'))).toBe(true);
    expect(snippets.some((snippet) => snippet.includes('enforce: false'))).toBe(true);
    expect(snippets.some((snippet) => snippet.includes("'/readyz'"))).toBe(true);
    expect(snippets.some((snippet) => snippet.includes("'/metrics'"))).toBe(true);
  });

  it.each(snippets.map((snippet, index) => [index, snippet] as const))(
    'snippet %i',
    async (index, snippet) => {
      const url = await run(index, snippet);
      const token = await kit.mint();
      const genuine = await post(url, token);
      expect(genuine.status).toBe(200);
      expect(await genuine.json()).toEqual({ username: 'system:serviceaccount:kube-system:webhook-auth' });

      const forged = await post(url, `${token.slice(0, -4)}AAAA`);
      if (snippet.includes('enforce: false')) {
        // Observe mode: let through, without an identity.
        expect(forged.status).toBe(200);
        expect(await forged.json()).toEqual({ username: null });
      } else {
        expect(forged.status).toBe(401);
      }

      if (snippet.includes("'/readyz'")) {
        const ready = await fetch(`${url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({ mode: 'jwks', enforcing: true, ready: true });
      }
      if (snippet.includes("'/metrics'")) {
        const scrape = await (await fetch(`${url}/metrics`)).text();
        expect(scrape).toMatch(/apiserver_token_requests_total\{outcome="accepted",verified_by="jwks"\} 1/);
        expect(scrape).toMatch(
          /apiserver_token_requests_total\{outcome="rejected",verified_by="jwks",code="invalid_signature"\} 1/,
        );
      }
    },
  );
});
