import { Agent, type AgentOptions } from 'node:https';

// The TLS options client-node copies from a kubeconfig into the agent it makes for every call.
const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

type TlsOptions = Partial<Record<(typeof TLS_OPTIONS)[number], unknown>>;

/** `KubeConfig.applyHTTPSOptions` (client-node 1.x and 2.x): the TLS options of the current cluster and user. */
export interface HttpsOptionsSource {
  applyHTTPSOptions?(options: Record<string, unknown>): void;
}

/** What we use of an undici dispatcher (client-node 2.x's `RequestContext.getDispatcher()`). */
interface DispatcherLike {
  dispatch(...args: never[]): unknown;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

function isPlainDispatcher(value: unknown): value is DispatcherLike {
  const candidate = value as Partial<DispatcherLike> | null | undefined;
  return (
    typeof candidate?.dispatch === 'function' &&
    typeof candidate.close === 'function' &&
    typeof candidate.destroy === 'function' &&
    // undici's plain `Agent`, not a `ProxyAgent` or a SOCKS-connecting one.
    candidate.constructor?.name === 'Agent'
  );
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((value, index) => sameValue(value, b[index]));
  return false;
}

/**
 * One keep-alive `https.Agent` for every apiserver call of a client. `@kubernetes/client-node`
 * 1.x makes a new agent per request (`applySecurityAuthentication` → `createAgent`), so every
 * TokenReview opened its own TLS connection; the call-time middleware swaps that agent for this
 * one. The agent carries the same TLS options, compared on every call: client-node re-reads
 * `caFile`/`certFile`/`keyFile` each time, and a rotated file gets a new agent. Credentials
 * (bearer tokens, a re-read tokenFile) are headers, not agent options, so they keep rotating.
 */
export class SharedAgent {
  #agent: Agent | undefined;
  #options: TlsOptions | undefined;
  #dispatcher: DispatcherLike | undefined;
  #dispatcherOptions: TlsOptions | undefined;
  #config: HttpsOptionsSource | undefined;
  #closed = false;

  /** The kubeconfig whose TLS options the calls use (to tell when a client-node 2.x dispatcher may be shared). */
  useKubeConfig(config: HttpsOptionsSource): void {
    this.#config = config;
  }

  /**
   * client-node 2.x makes a new undici `Agent` dispatcher (a new connection pool) per call, as 1.x
   * made a new `https.Agent`: the first one made is kept and used for every call while the
   * kubeconfig's TLS options stay the same (files re-read per call, as client-node does), and a
   * call's fresh one, still without connections, is closed. Proxy dispatchers are left alone.
   */
  reuseDispatcher(fresh: unknown): unknown {
    if (this.#closed || this.#config?.applyHTTPSOptions === undefined || !isPlainDispatcher(fresh))
      return fresh;
    const https: Record<string, unknown> = {};
    this.#config.applyHTTPSOptions(https);
    const wanted: TlsOptions = {};
    for (const name of TLS_OPTIONS) if (https[name] !== undefined) wanted[name] = https[name];
    const held = this.#dispatcher;
    const current = this.#dispatcherOptions;
    if (held !== undefined && current !== undefined) {
      if (TLS_OPTIONS.every((name) => sameValue(current[name], wanted[name]))) {
        void fresh.close().catch(() => undefined);
        return held;
      }
      // Graceful: calls in flight on the old pool finish, then its connections close.
      void held.close().catch(() => undefined);
    }
    this.#dispatcher = fresh;
    this.#dispatcherOptions = wanted;
    return fresh;
  }

  /** The agent to use instead of `fresh` (the one client-node just made), or `fresh` itself. */
  reuse(fresh: unknown): unknown {
    // Proxy agents and plain-HTTP agents are left alone: only a bare https.Agent is replaced.
    if (this.#closed || !(fresh instanceof Agent) || fresh.constructor !== Agent) return fresh;
    const wanted = fresh.options as TlsOptions;
    const current = this.#options;
    if (this.#agent !== undefined && current !== undefined) {
      if (TLS_OPTIONS.every((name) => sameValue(current[name], wanted[name]))) return this.#agent;
      retire(this.#agent);
    }
    const options: TlsOptions = {};
    for (const name of TLS_OPTIONS) if (wanted[name] !== undefined) options[name] = wanted[name];
    this.#options = options;
    this.#agent = new Agent({ ...(options as AgentOptions), keepAlive: true });
    return this.#agent;
  }

  /** Closes every connection; later calls get client-node's own per-call agent. */
  close(): void {
    this.#closed = true;
    this.#agent?.destroy();
    this.#agent = undefined;
    void this.#dispatcher?.destroy().catch(() => undefined);
    this.#dispatcher = undefined;
  }
}

/** An agent whose TLS options changed: idle sockets close now, busy ones when their call ends. */
function retire(agent: Agent): void {
  // Node's agent destroys a freed socket instead of pooling it when `keepAlive` is off.
  (agent as unknown as { keepAlive: boolean }).keepAlive = false;
  for (const sockets of Object.values(agent.freeSockets))
    for (const socket of sockets ?? []) socket.destroy();
}
