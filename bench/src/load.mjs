// One timed round of HTTP load with autocannon, and single requests for pre-flight checks.
import http from 'node:http';
import autocannon from 'autocannon';
import { SampleBuffer } from './stats.mjs';

/**
 * Runs autocannon against 127.0.0.1:port for `seconds` with one fixed request, recording every response's
 * latency itself (autocannon's own histogram has 1 ms resolution, too coarse for Fastify).
 */
export function loadRound({ port, token, seconds, connections, pipelining }) {
  const samples = new SampleBuffer();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}/`,
        connections,
        pipelining,
        duration: seconds,
        sampleInt: 100,
        headers: { authorization: `Bearer ${token}` },
      },
      (err, result) => {
        if (err) return reject(err);
        const { p50, p99 } = samples.percentiles();
        resolve({
          requests: result.requests.total,
          seconds: result.duration,
          rps: result.requests.total / result.duration,
          p50ms: p50,
          p99ms: p99,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts + result.resets,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => samples.push(responseTime));
  });
}

/** One GET / with an optional bearer token; resolves with `{ status, body }`. */
export function probe(port, token) {
  return new Promise((resolve, reject) => {
    const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', headers, agent: false, timeout: 10_000 },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('probe timeout')));
    req.on('error', reject);
  });
}

/**
 * A flood: autocannon against 127.0.0.1:port with a new token per request (`makeToken()`), at
 * `overallRate` requests/s when given (else as fast as the server answers). Resolves with the counts;
 * `accepted` counts 2xx answers (a forged token answered 2xx is a security failure).
 */
export function floodRound({ port, seconds, connections, pipelining = 1, overallRate, makeToken }) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}/`,
        connections,
        pipelining,
        duration: seconds,
        ...(overallRate ? { overallRate } : {}),
        requests: [
          {
            setupRequest: (request) => {
              request.headers = { ...request.headers, authorization: `Bearer ${makeToken()}` };
              return request;
            },
          },
        ],
      },
      (err, result) => {
        if (err) return reject(err);
        resolve({
          requests: result.requests.total,
          seconds: result.duration,
          rps: result.requests.total / result.duration,
          accepted: result['2xx'],
          // 503s: what a bound on signature checks (maxVerificationsPerSecond) refused unchecked.
          unavailable: result.statusCodeStats?.['503']?.count ?? 0,
          errors: result.errors + result.timeouts,
        });
      },
    );
  });
}
