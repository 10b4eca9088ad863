// Parent/child request-response over the fork IPC channel, one process per worker.
import { fork } from 'node:child_process';

/**
 * Forks `file` and returns a handle whose `call(cmd, args)` resolves with what the child's handler returns.
 * The child must call `serve()` from this module.
 */
export function spawnWorker(file, { execArgv = [], env = {}, label = file, execPath } = {}) {
  const child = fork(file, [], {
    // `execPath` runs the child under another program (valgrind), `execArgv` then being its arguments.
    ...(execPath ? { execPath } : {}),
    execArgv,
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 1;
  let exited = null;
  child.on('message', (msg) => {
    const entry = pending.get(msg.id);
    if (!entry) return;
    pending.delete(msg.id);
    if (msg.ok) entry.resolve(msg.result);
    else entry.reject(Object.assign(new Error(`${label}: ${msg.error}`), { code: msg.code }));
  });
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    for (const entry of pending.values()) {
      entry.reject(new Error(`${label} exited (code ${code}, signal ${signal}) before answering`));
    }
    pending.clear();
  });
  return {
    pid: child.pid,
    call(cmd, args = {}) {
      if (exited) return Promise.reject(new Error(`${label} already exited`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, cmd, args });
      });
    },
    /** Stops this one child (by its own handle) and waits for it to go. */
    async stop() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      // A graceful exit lets --cpu-prof write its profile.
      child.send({ id: 0, cmd: '__exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), execPath ? 60_000 : 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Child side: answers the parent's calls with `handlers[cmd](args)`. */
export function serve(handlers) {
  process.on('message', async (msg) => {
    if (msg.cmd === '__exit') {
      process.disconnect();
      process.exit(0);
    }
    const handler = handlers[msg.cmd];
    try {
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      const result = await handler(msg.args);
      process.send({ id: msg.id, ok: true, result });
    } catch (err) {
      process.send({ id: msg.id, ok: false, error: err?.message ?? String(err), code: err?.code });
    }
  });
}
