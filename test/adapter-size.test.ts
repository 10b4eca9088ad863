/**
 * Each adapter is a thin layer over core's HTTP layer: its one source file stays at or under 100
 * lines of code (TSDoc and comments aside, which document its options). An adapter growing past
 * that is logic that belongs in core, where every framework gets it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ADAPTERS = {
  express: 'verify-apiserver-token.ts',
  koa: 'verify-apiserver-token.ts',
  fastify: 'fastify-apiserver-token.ts',
  node: 'node-apiserver-token.ts',
  hono: 'hono-apiserver-token.ts',
  nestjs: 'nestjs-apiserver-token.ts',
};

/** Lines that are neither blank nor comment. */
function codeLines(source: string): number {
  let inBlock = false;
  let count = 0;
  for (const raw of source.split('\n')) {
    const line = raw.trim();
    if (inBlock) {
      if (line.includes('*/')) inBlock = false;
      continue;
    }
    if (line === '' || line.startsWith('//')) continue;
    if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      continue;
    }
    count++;
  }
  return count;
}

describe('adapters', () => {
  for (const [dir, file] of Object.entries(ADAPTERS)) {
    it(`${dir}: one adapter file of at most 100 lines of code beside its index`, () => {
      const src = new URL(`../packages/${dir}/src/`, import.meta.url);
      expect(readdirSync(src).sort()).toEqual([file, 'index.ts'].sort());
      expect(codeLines(readFileSync(new URL(file, src), 'utf8'))).toBeLessThanOrEqual(100);
    });
  }
});
