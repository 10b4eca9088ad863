import { AttemptTimeoutError } from './attempt-failure.js';

/**
 * Runs one apiserver call with its own abort signal, abandoned with an {@link AttemptTimeoutError}
 * after `timeoutMs` milliseconds or as soon as `closing` aborts (the verifier is closed), whichever
 * comes first. The race does not trust the client to honour the signal.
 */
export function timedCall<T>(
  call: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  closing: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onClose = () => controller.abort(new AttemptTimeoutError(0));
  closing.addEventListener('abort', onClose, { once: true });
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new AttemptTimeoutError(timeoutMs);
      reject(error);
      controller.abort(error);
    }, timeoutMs);
  });
  return Promise.race([call(controller.signal), timedOut]).finally(() => {
    clearTimeout(timer);
    closing.removeEventListener('abort', onClose);
  });
}
