import type { Endpoint, Fault, FaultTarget } from './types.js';

/** Every endpoint the kit counts, in a stable order. */
export const ENDPOINTS: readonly Endpoint[] = [
  'openid-configuration',
  'jwks',
  'tokenreviews',
  'subjectaccessreviews',
  'selfsubjectaccessreviews',
  'tokenrequests',
];

/** Normalises a fault target (`discovery` is an alias of `openid-configuration`). */
export function faultKey(target: FaultTarget): Endpoint | '*' {
  if (target === 'discovery') return 'openid-configuration';
  if (target === '*' || ENDPOINTS.includes(target)) return target;
  throw new TypeError(
    `setFault: unknown target ${JSON.stringify(target)}; use one of ${[...ENDPOINTS, 'discovery', '*'].join(', ')}`,
  );
}

function validate(fault: Fault): Fault {
  if (fault === null || typeof fault !== 'object') throw new TypeError('setFault: fault must be an object');
  if (fault.latencyMs !== undefined && !(Number.isFinite(fault.latencyMs) && fault.latencyMs >= 0)) {
    throw new TypeError('setFault: latencyMs must be a number of milliseconds >= 0');
  }
  if (
    fault.status !== undefined &&
    !(Number.isInteger(fault.status) && fault.status >= 400 && fault.status <= 599)
  ) {
    throw new TypeError('setFault: status must be an HTTP error status (400-599), e.g. 429, 500, 502, 503');
  }
  if (fault.retryAfter !== undefined && !(Number.isInteger(fault.retryAfter) && fault.retryAfter >= 0)) {
    throw new TypeError('setFault: retryAfter must be a whole number of seconds >= 0');
  }
  if (fault.times !== undefined && !(Number.isInteger(fault.times) && fault.times > 0)) {
    throw new TypeError('setFault: times must be a whole number > 0');
  }
  return { ...fault };
}

/** Faults by endpoint; an endpoint's own fault wins over `*`. */
export class FaultTable {
  readonly #faults = new Map<Endpoint | '*', Fault>();

  set(target: FaultTarget, fault: Fault): void {
    this.#faults.set(faultKey(target), validate(fault));
  }

  clear(target?: FaultTarget): void {
    if (target === undefined) this.#faults.clear();
    else this.#faults.delete(faultKey(target));
  }

  /** The fault for this request, if any; counts down `times`. */
  take(endpoint: Endpoint): Fault | undefined {
    const key = this.#faults.has(endpoint) ? endpoint : this.#faults.has('*') ? '*' : undefined;
    if (key === undefined) return undefined;
    const fault = this.#faults.get(key)!;
    if (fault.times !== undefined) {
      if (fault.times <= 1) this.#faults.delete(key);
      else fault.times -= 1;
    }
    return fault;
  }

  snapshot(): Partial<Record<Endpoint | '*', Fault>> {
    return Object.fromEntries([...this.#faults].map(([k, v]) => [k, { ...v }]));
  }
}
