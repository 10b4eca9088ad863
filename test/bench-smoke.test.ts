/**
 * `pnpm bench` is run by hand, on a quiet machine, long after the change that breaks it: this
 * keeps it runnable. Every HTTP group and the cold scenario run in `--quick` mode (their servers
 * start, answer the valid token, refuse the forgeries, take load), and the callgrind worker runs
 * natively (no valgrind, so no counts: only that each of its scenarios still runs). The figures
 * of a quick run on a shared machine mean nothing and are not looked at.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bench = fileURLToPath(new URL('../bench/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'apiserver-token-bench-smoke-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Row {
  id: string;
  available: boolean;
  reason?: string;
  verdict?: string;
  preflight?: string[];
}
interface Section {
  id: string;
  rows: Row[];
}

describe('pnpm bench', () => {
  it('runs every HTTP group and the cold scenario (--quick)', { timeout: 300_000 }, async () => {
    const groups = ['express', 'fastify', 'koa', 'node', 'hono', 'nestjs'];
    const out = join(scratch, 'quick.json');
    await run(
      process.execPath,
      [
        '--max-old-space-size=4096',
        'src/run.mjs',
        '--quick',
        `--only=${groups.join(',')},cold`,
        `--out=${out}`,
      ],
      { cwd: bench, maxBuffer: 64 * 1024 * 1024 },
    );
    const { sections } = JSON.parse(readFileSync(out, 'utf8')) as { sections: Section[] };
    expect(sections.map((s) => s.id)).toEqual([...groups, 'cold-RS256', 'cold-ES256']);
    for (const section of sections) {
      for (const row of section.rows) {
        // Every contestant started and passed its checks (an accepted forgery aborts the run).
        expect({ row: row.id, available: row.available, reason: row.reason }).toEqual({
          row: row.id,
          available: true,
          reason: undefined,
        });
        expect(row.verdict ?? '', row.id).not.toBe('FAIL');
      }
      if (groups.includes(section.id)) {
        const ours = section.rows.find((r) => r.id === `${section.id}/ours`);
        expect(ours?.preflight, section.id).toEqual(
          expect.arrayContaining([expect.stringMatching(/: 401$/)]),
        );
      }
    }
  });

  it("runs the callgrind worker's every in-process scenario (natively, without counting)", {
    timeout: 120_000,
  }, async () => {
    const kit = (await import(fileURLToPath(new URL('../bench/src/kit.mjs', import.meta.url)))) as {
      startKit(): Promise<{ api: { close(): Promise<void> }; info: unknown }>;
      mint(api: unknown): Promise<string>;
      mintMany(api: unknown, count: number, options: { alg: string; prefix: string }): Promise<string[]>;
    };
    const { api, info } = await kit.startKit();
    try {
      const sizes = { hot: { warm: 20, calls: 10 }, coldWarm: 4, coldCalls: 4, http: { warm: 0, calls: 0 } };
      const need = sizes.coldWarm + 2 * sizes.coldCalls;
      const input = join(scratch, 'input.json');
      writeFileSync(
        input,
        JSON.stringify({
          info,
          token: await kit.mint(api),
          cold: {
            RS256: await kit.mintMany(api, need, { alg: 'RS256', prefix: 'smoke-rs' }),
            ES256: await kit.mintMany(api, need, { alg: 'ES256', prefix: 'smoke-es' }),
          },
          sizes,
        }),
      );
      const { stdout } = await run(process.execPath, ['src/workers/instructions.mjs', input], {
        cwd: bench,
      });
      const { segments } = JSON.parse(stdout.trim().split('\n').pop() ?? '') as {
        segments: Array<{ id: string }>;
      };
      const ids = [...new Set(segments.map((s) => s.id))];
      expect(ids).toEqual([
        'hot/express/noop',
        'hot/express/ours',
        'hot/fastify/noop',
        'hot/fastify/ours',
        'hot/koa/noop',
        'hot/koa/ours',
        'hot/hash',
        'hot/core/ours',
        'cold/RS256/crypto',
        'cold/RS256/ours',
        'cold/ES256/crypto',
        'cold/ES256/ours',
      ]);
    } finally {
      await api.close();
    }
  });
});
