// Child process: verifies a list of distinct valid tokens one at a time with one verifier, timing each call.
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { loadOurs, ourOptions } from '../ours.mjs';
import { serve } from '../rpc.mjs';
import { SampleBuffer } from '../stats.mjs';

let state;

/** The crypto limit: node:crypto over the signing input with a KeyObject imported once, nothing else. */
function cryptoLimit(info, tokens, alg) {
  const { kid } = JSON.parse(Buffer.from(tokens[0].split('.')[0], 'base64url').toString('utf8'));
  const jwk = info.jwks.keys.find((k) => k.kid === kid);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const keyArg = alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key;
  return {
    sync: true,
    check(token) {
      const dot = token.lastIndexOf('.');
      return verify(
        'sha256',
        Buffer.from(token.slice(0, dot)),
        keyArg,
        Buffer.from(token.slice(dot + 1), 'base64url'),
      );
    },
  };
}

function joseVerify(info, alg) {
  const keySet = createLocalJWKSet(info.jwks);
  const options = { issuer: info.issuer, audience: info.audience, algorithms: [alg] };
  return {
    async check(token) {
      await jwtVerify(token, keySet, options);
      return true;
    },
  };
}

async function oursVerify(info) {
  const ours = await loadOurs('@apiserver-token/core');
  if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
  return {
    fresh: true,
    async open() {
      this.verifier = ours.fn(ourOptions(info));
      await this.verifier.ready();
    },
    async check(headers) {
      await this.verifier.verify({ headers });
      return true;
    },
    async close() {
      await this.verifier.close();
    },
  };
}

serve({
  async prepare({ contestant, alg, tokensFile, info }) {
    const tokens = JSON.parse(readFileSync(tokensFile, 'utf8'));
    const impl =
      contestant === 'crypto'
        ? cryptoLimit(info, tokens, alg)
        : contestant === 'jose'
          ? joseVerify(info, alg)
          : await oursVerify(info);
    // Ours takes a request's headers; build them outside the timed loop.
    const inputs = contestant === 'ours' ? tokens.map((t) => ({ authorization: `Bearer ${t}` })) : tokens;
    state = { impl, inputs };
    return { tokens: tokens.length };
  },
  /** How many of `tokens` (forgeries) this contestant accepts; anything but 0 aborts the run. */
  async forgeries({ tokens }) {
    const { impl } = state;
    if (impl.fresh) await impl.open();
    let accepted = 0;
    for (const token of tokens) {
      const input = impl.fresh ? { authorization: `Bearer ${token}` } : token;
      try {
        if (await impl.check(input)) accepted++;
      } catch {
        // rejected, as it must be
      }
    }
    if (impl.fresh) await impl.close();
    return { accepted };
  },
  /** Verifies inputs [from, to) in order; a fresh verifier (empty cache) for ours on every call. */
  async run({ from, to }) {
    const { impl, inputs } = state;
    if (impl.fresh) await impl.open();
    const samples = new SampleBuffer(to - from);
    let failures = 0;
    let firstError;
    const start = performance.now();
    if (impl.sync) {
      for (let i = from; i < to; i++) {
        const t0 = performance.now();
        if (!impl.check(inputs[i])) failures++;
        samples.push(performance.now() - t0);
      }
    } else {
      for (let i = from; i < to; i++) {
        const t0 = performance.now();
        try {
          if (!(await impl.check(inputs[i]))) failures++;
        } catch (err) {
          failures++;
          firstError ??= err.code ?? err.message;
        }
        samples.push(performance.now() - t0);
      }
    }
    const seconds = (performance.now() - start) / 1000;
    if (impl.fresh) await impl.close();
    const { p50, p99 } = samples.percentiles();
    return {
      count: to - from,
      seconds,
      rate: (to - from) / seconds,
      p50us: p50 * 1000,
      p99us: p99 * 1000,
      failures,
      firstError,
    };
  },
});
