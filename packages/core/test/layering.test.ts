import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The pipeline reads top to bottom: contracts and helpers (lib/, contracts/, jwt/) at the
// bottom, strategies and checks above them, assembly (config/, verifier/, http/) on top. A
// folder that imports a folder importing it back breaks that order; this test keeps it.
const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * The folder of a file below src/; a file at the top of src/ (errors.ts, identity.ts, the
 * option types) stands for itself. index.ts is the public surface and imports everything.
 */
function folderOf(file: string): string {
  const parts = relative(src, file).split(sep);
  return parts.length > 1 ? (parts[0] as string) : (parts[0] as string).replace(/\.js$/, '.ts');
}

function folderEdges(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(src)) {
    if (file === join(src, 'index.ts')) continue;
    const from = folderOf(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), match[1] as string);
      const to = folderOf(target);
      if (to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)?.add(to);
    }
  }
  return edges;
}

describe('core layering', () => {
  it('has no two folders that import each other', () => {
    const edges = folderEdges();
    const pairs: string[] = [];
    for (const [from, targets] of edges) {
      for (const to of targets) {
        if (from < to && edges.get(to)?.has(from)) pairs.push(`${from} <-> ${to}`);
      }
    }
    expect(pairs).toEqual([]);
  });

  it('sees the imports it checks (the assembler imports the strategies)', () => {
    const edges = folderEdges();
    expect([...(edges.get('verifier') ?? [])]).toEqual(
      expect.arrayContaining(['jwks', 'tokenreview', 'policy', 'admission', 'contracts']),
    );
    expect([...(edges.get('config') ?? [])]).toEqual(expect.arrayContaining(['lib', 'tokenreview']));
  });

  it('keeps the bottom folders free of imports from the folders above them', () => {
    const edges = folderEdges();
    const upper = ['verifier', 'config', 'http', 'jwks', 'tokenreview', 'policy', 'admission'];
    for (const bottom of ['lib', 'contracts', 'jwt']) {
      const reached = [...(edges.get(bottom) ?? [])].filter((to) => upper.includes(to));
      expect({ bottom, reached }).toEqual({ bottom, reached: [] });
    }
  });
});
