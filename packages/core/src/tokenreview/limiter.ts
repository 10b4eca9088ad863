/** Thrown by {@link ConcurrencyLimiter.acquire} when no slot can be had. */
export class LimiterRejection extends Error {
  constructor(readonly kind: 'queue_full' | 'wait_timeout') {
    super(kind === 'queue_full' ? 'too many TokenReviews queued' : 'no TokenReview slot freed in time');
    this.name = 'LimiterRejection';
  }
}

interface Waiter {
  grant: (release: () => void) => void;
  reject: (error: LimiterRejection) => void;
  timer: NodeJS.Timeout;
}

/**
 * At most `maxInFlight` holders at a time, at most `maxQueued` waiting in FIFO order; beyond
 * that callers are refused at once rather than piling up in memory.
 */
export class ConcurrencyLimiter {
  #inFlight = 0;
  readonly #queue: Waiter[] = [];
  /** Callers refused at the cap, by reason (metrics). */
  readonly refused = { queue_full: 0, wait_timeout: 0 };

  constructor(
    readonly maxInFlight: number,
    readonly maxQueued: number,
  ) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Resolves to a release function once a slot is held; waits at most `waitMs` milliseconds. */
  acquire(waitMs: number): Promise<() => void> {
    if (this.#inFlight < this.maxInFlight) {
      this.#inFlight++;
      return Promise.resolve(this.#releaser());
    }
    if (this.#queue.length >= this.maxQueued || waitMs <= 0) {
      const kind = this.#queue.length >= this.maxQueued ? 'queue_full' : 'wait_timeout';
      this.refused[kind]++;
      return Promise.reject(new LimiterRejection(kind));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.#queue.indexOf(waiter);
          if (index !== -1) this.#queue.splice(index, 1);
          this.refused.wait_timeout++;
          reject(new LimiterRejection('wait_timeout'));
        }, waitMs),
      };
      this.#queue.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next === undefined) {
        this.#inFlight--;
        return;
      }
      // The slot passes straight to the next waiter: in-flight count unchanged.
      clearTimeout(next.timer);
      next.grant(this.#releaser());
    };
  }

  /** Refuse every waiter (on close). */
  drain(): void {
    for (const waiter of this.#queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new LimiterRejection('wait_timeout'));
    }
  }
}
