import { rmSync } from 'node:fs';

// The kit's temporary directory holds a kubeconfig with a bearer token: it must not outlive the
// process even when a test run ends without close() (a crash, process.exit(), a Ctrl-C).
const dirs = new Set<string>();
let installed = false;

function removeAll(): void {
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Nothing more can be done while the process exits.
    }
  }
  dirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  // Another listener owns the signal's handling; otherwise die of it as the default would.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      process.off(signal, handler);
      onSignal(signal);
    };
    process.on(signal, handler);
  }
}

/** Removes `dir` when the process exits, unless {@link forgetOnExit} was called first. */
export function removeOnExit(dir: string): void {
  install();
  dirs.add(dir);
}

/** The directory was removed already (by close()). */
export function forgetOnExit(dir: string): void {
  dirs.delete(dir);
}
