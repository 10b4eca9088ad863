// Micro-benchmark of our per-request costs, in one process, with no server and no network: the
// cached path (verify() on a hit, with and without rawHeaders, an allow-list, metrics), the Express
// middleware on a hit (fake req/res), and cold verification (distinct tokens, fresh cache) next
// to the bare crypto.verify loop.
//
//   node bench/src/micro/hot-path.mjs                       # the built packages (packages/*/dist)
//   node bench/src/micro/hot-path.mjs --baseline=<dir>      # also <dir>/core/dist/index.js and
//                                                           # <dir>/express/dist/index.js, interleaved
//
// Rounds are interleaved (A B A B …) and the report gives medians and the ratio to the baseline:
// on a shared machine only ratios measured in one run mean anything.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    ms: { type: 'string', default: '300' },
    only: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const ROUND_MS = Number(args.ms);

const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

function keyPair(alg) {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: `k-${alg}`, alg, use: 'sig' };
  return { alg, privateKey: createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })), jwk };
}

function mint({ alg, privateKey, jwk }, n) {
  const now = Math.floor(Date.now() / 1000);
  const header = Buffer.from(JSON.stringify({ alg, kid: jwk.kid })).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({
      aud: [AUDIENCE],
      exp: now + 3600,
      iat: now,
      nbf: now,
      iss: ISSUER,
      jti: `jti-${n}-${Math.random()}`,
      'kubernetes.io': {
        namespace: 'kube-system',
        serviceaccount: { name: 'webhook-auth', uid: '6a3c1f4e-0c1d-4f5e-9a8b-1c2d3e4f5a6b' },
        pod: { name: `apiserver-${n}`, uid: '1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b' },
        warnafter: now + 3000,
      },
      sub: 'system:serviceaccount:kube-system:webhook-auth',
    }),
  ).toString('base64url');
  const input = `${header}.${payload}`;
  const signature =
    alg === 'RS256'
      ? sign('sha256', Buffer.from(input), privateKey)
      : sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

async function loadImpl(label, root) {
  const core = await import(
    root ? pathToFileURL(`${root}/core/dist/index.js`).href : '@apiserver-token/core'
  );
  const express = await import(
    root ? pathToFileURL(`${root}/express/dist/index.js`).href : '@apiserver-token/express'
  );
  return { label, core, express };
}

function options(keys, extra = {}) {
  return {
    audience: AUDIENCE,
    issuer: ISSUER,
    jwks: { keys: { keys } },
    inCluster: false,
    env: {},
    ...extra,
  };
}

/** Runs `fn(n)` for about ROUND_MS; returns ns per operation. */
async function timeRound(fn, batch) {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ROUND_MS) * 1_000_000n;
  let ops = 0;
  let now = start;
  while (now < deadline) {
    await fn(batch);
    ops += batch;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / ops;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const impls = [await loadImpl('current')];
  if (args.baseline) impls.unshift(await loadImpl('baseline', args.baseline));
  const rsa = keyPair('RS256');
  const ec = keyPair('ES256');
  const keys = [rsa.jwk, ec.jwk];
  const token = mint(rsa, 0);
  const headers = { host: 'x', 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const rawHeaders = [
    'Host',
    'x',
    'Content-Type',
    'application/json',
    'Accept',
    '*/*',
    'User-Agent',
    'kube-apiserver-admission',
    'Authorization',
    `Bearer ${token}`,
    'Content-Length',
    '1234',
  ];
  const COLD = 400;
  const coldRsa = Array.from({ length: COLD }, (_, i) => mint(rsa, i));
  const coldEc = Array.from({ length: COLD }, (_, i) => mint(ec, i));

  const scenarios = [];
  for (const impl of impls) {
    const plain = impl.core.createVerifier(options(keys));
    const listed = impl.core.createVerifier(
      options(keys, { policy: { serviceAccounts: ['kube-system:webhook-auth'] } }),
    );
    const { Registry } = await import('prom-client');
    const metered = impl.core.createVerifier(options(keys, { metrics: { registry: new Registry() } }));
    await plain.verify({ headers });
    await listed.verify({ headers });
    await metered.verify({ headers });
    const mw = impl.express.verifyApiserverToken(options(keys));
    const res = {};
    const req = { headers, rawHeaders, body: undefined, socket: undefined };
    await new Promise((resolve, reject) => mw(req, res, (e) => (e ? reject(e) : resolve())));
    const mwListed = impl.express.verifyApiserverToken(
      options(keys, { policy: { serviceAccounts: ['kube-system:webhook-auth'] } }),
    );
    await new Promise((resolve, reject) => mwListed(req, res, (e) => (e ? reject(e) : resolve())));
    const viaMiddleware = (m) => (n) =>
      new Promise((resolve, reject) => {
        let left = n;
        const next = (e) => {
          if (e) return reject(e);
          if (--left === 0) resolve();
          else m(req, res, next);
        };
        m(req, res, next);
      });
    const cold = (tokens) => {
      let i = 0;
      let verifier;
      return async (n) => {
        for (let k = 0; k < n; k++) {
          if (i % tokens.length === 0) {
            await verifier?.close();
            verifier = impl.core.createVerifier(options(keys));
          }
          await verifier.verifyToken(tokens[i % tokens.length]);
          i++;
        }
      };
    };
    const hits = (v, request) => async (n) => {
      for (let k = 0; k < n; k++) await v.verify(request);
    };
    const add = (name, fn, batch) => scenarios.push({ name, impl: impl.label, fn, batch, samples: [] });
    add('verify() hit, headers', hits(plain, { headers }), 200);
    add('verify() hit, headers+rawHeaders', hits(plain, { headers, rawHeaders }), 200);
    add('verify() hit, allow-list', hits(listed, { headers, rawHeaders }), 200);
    add('verify() hit, metrics on', hits(metered, { headers, rawHeaders }), 200);
    add('express mw hit', viaMiddleware(mw), 200);
    add('express mw hit, allow-list', viaMiddleware(mwListed), 200);
    add('cold RS256 verifyToken', cold(coldRsa), 20);
    add('cold ES256 verifyToken', cold(coldEc), 20);
  }
  // The crypto limit, as bench/src/workers/cold.mjs measures it.
  const limit = (tokens, alg) => {
    const key = createPublicKey({ key: alg === 'RS256' ? rsa.jwk : ec.jwk, format: 'jwk' });
    const keyArg = alg === 'RS256' ? key : { key, dsaEncoding: 'ieee-p1363' };
    let i = 0;
    return async (n) => {
      for (let k = 0; k < n; k++) {
        const t = tokens[i++ % tokens.length];
        const dot = t.lastIndexOf('.');
        if (
          !verify('sha256', Buffer.from(t.slice(0, dot)), keyArg, Buffer.from(t.slice(dot + 1), 'base64url'))
        )
          throw new Error('limit: bad signature');
      }
    };
  };
  scenarios.push({
    name: 'cold RS256 verifyToken',
    impl: 'crypto limit',
    fn: limit(coldRsa, 'RS256'),
    batch: 20,
    samples: [],
  });
  scenarios.push({
    name: 'cold ES256 verifyToken',
    impl: 'crypto limit',
    fn: limit(coldEc, 'ES256'),
    batch: 20,
    samples: [],
  });

  const selected = args.only ? scenarios.filter((s) => s.name.includes(args.only)) : scenarios;
  for (const s of selected) await timeRound(s.fn, s.batch); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of selected) s.samples.push(await timeRound(s.fn, s.batch));
  }
  const names = [...new Set(selected.map((s) => s.name))];
  console.log(`node ${process.version}, ${ROUNDS} interleaved rounds of ${ROUND_MS} ms, median ns/op`);
  for (const name of names) {
    const rows = selected.filter((s) => s.name === name).map((s) => ({ ...s, ns: median(s.samples) }));
    const base = rows.find((r) => r.impl === 'baseline');
    const lim = rows.find((r) => r.impl === 'crypto limit');
    const parts = rows.map((r) => {
      let text = `${r.impl} ${r.ns.toFixed(0)} ns`;
      if (base && r !== base && r.impl !== 'crypto limit')
        text += ` (${(base.ns / r.ns).toFixed(2)}x faster)`;
      if (lim && r !== lim) text += ` [${(lim.ns / r.ns).toFixed(2)} of limit]`;
      return text;
    });
    console.log(`${name.padEnd(36)} ${parts.join(' | ')}`);
  }
  process.exit(0);
}

await main();
