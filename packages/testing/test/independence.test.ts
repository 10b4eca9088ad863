import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The kit is the independent oracle of the project: a bug in core must not be mirrored here.
const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

describe('independence', () => {
  it('no source file of the kit imports another @apiserver-token package', () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const imports = [
        ...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g),
      ].map((m) => m[1]);
      expect(
        imports.filter((i) => i?.startsWith('@apiserver-token/')),
        file,
      ).toEqual([]);
      expect(
        imports.filter((i) => i?.includes('packages/core')),
        file,
      ).toEqual([]);
    }
  });

  it('has no runtime dependency on core or jose', () => {
    const pkg = JSON.parse(readFileSync(join(SRC, '../package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@peculiar/x509', 'reflect-metadata']);
  });
});
