import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The kit's temporary directory holds a kubeconfig with the reviewer's bearer token: it must be
// removed when the process ends without close(), whichever way it ends.
const KIT = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** Runs a child that starts the kit, prints its temp dir and kubeconfig path, then does `then`. */
function child(
  then: string,
): Promise<{ dir: string; kubeconfig: string; code: number | null; signal: string | null }> {
  const script = `
    const { startTestApiserver } = await import(${JSON.stringify(KIT)});
    const api = await startTestApiserver();
    process.stdout.write(JSON.stringify({ dir: api.tempDir, kubeconfig: api.kubeconfigPath }) + '\\n');
    ${then}
  `;
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (then.includes('SIGNAL') && out.includes('\n')) proc.kill('SIGTERM');
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      try {
        const paths = JSON.parse(out.split('\n')[0] ?? '') as { dir: string; kubeconfig: string };
        resolve({ ...paths, code, signal });
      } catch (error) {
        reject(error);
      }
    });
  });
}

// The child loads the built kit (`pnpm test` builds first), as a user's test process would.
describe('temporary directory at process exit, without close()', () => {
  it('is removed on process.exit()', async () => {
    const result = await child('process.exit(0);');
    expect(result.code).toBe(0);
    expect(existsSync(result.kubeconfig)).toBe(false);
    expect(existsSync(result.dir)).toBe(false);
  });

  it('is removed on an uncaught exception', async () => {
    const result = await child("setTimeout(() => { throw new Error('boom'); }, 10);");
    expect(result.code).toBe(1);
    expect(existsSync(result.dir)).toBe(false);
  });

  it('is removed on SIGTERM, and the process still dies of the signal', async () => {
    const result = await child('/* SIGNAL */ setInterval(() => {}, 1000);');
    expect(result.signal).toBe('SIGTERM');
    expect(existsSync(result.dir)).toBe(false);
  });
});
