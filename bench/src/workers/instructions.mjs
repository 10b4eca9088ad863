// Runs under `valgrind --tool=callgrind --dump-before=uv_get_free_memory`: every os.freemem() call
// makes callgrind write the instructions counted since the previous one, so a segment between two
// marks holds exactly one scenario's N calls. Prints on stdout the list of segments (scenario id,
// dump part, calls) for the parent to read the counts from.
//
//   node bench/src/workers/instructions.mjs <input.json>     (the parent writes the input)
import { createPublicKey, hash, randomBytes, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { loadOurs, ourOptions } from '../ours.mjs';
import { NOOP_IDENTITY } from '../servers/noop.mjs';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { info, token, cold, sizes, only } = input;

let marks = 0;
/** One dump of the counts so far; returns its part number (callgrind numbers dumps from 1). */
function mark() {
  freemem();
  marks += 1;
  return marks;
}

const segments = [];
/** `warm` calls, then two measured segments of `n` calls each (two, to show they agree). */
async function measure(id, run, n, warm) {
  if (only !== undefined && !only.includes(id)) return;
  await run(warm);
  for (let k = 0; k < 2; k++) {
    // No GC forced before a segment: under --single-threaded a full GC made V8 compile the code
    // under test again inside the segment that followed (as over HTTP).
    mark();
    await run(n);
    segments.push({ id, part: mark(), calls: n });
  }
}

const headers = { host: '127.0.0.1', authorization: `Bearer ${token}` };
const rawHeaders = ['Host', '127.0.0.1', 'Authorization', `Bearer ${token}`];
// What each framework hands its middleware, reduced to what ours and the no-op read.
const req = { headers, rawHeaders, body: undefined, socket: {} };
const res = {};

async function loadOrExit(pkg) {
  const ours = await loadOurs(pkg);
  if (!ours.available) {
    process.stdout.write(`${JSON.stringify({ unavailable: ours.reason })}\n`);
    process.exit(0);
  }
  return ours.fn;
}

// Express: the middleware called as Express calls it, next() counting the calls.
const expressMw = (await loadOrExit('@apiserver-token/express'))(ourOptions(info));
const koaMw = (await loadOrExit('@apiserver-token/koa'))(ourOptions(info));
const fastifyPlugin = await loadOrExit('@apiserver-token/fastify');
const createVerifier = await loadOrExit('@apiserver-token/core');
await expressMw.ready();
await koaMw.ready();
// Fastify: the plugin registered on a stand-in that keeps the hook it adds, called as Fastify does.
const hooks = {};
const stand = {
  hasRequestDecorator: () => false,
  decorateRequest() {},
  hasDecorator: () => false,
  decorate() {},
  addHook(name, fn) {
    hooks[name] = fn;
  },
};
await fastifyPlugin(stand, ourOptions(info));
const fastifyRequest = { raw: req, body: undefined, apiserver: undefined };
const reply = {};
const verifier = createVerifier(ourOptions(info));
await verifier.ready();

let left = 0;
const nextExpress = (error) => {
  if (error) throw error;
  left--;
};
const noopExpress = (request, _res, next) => {
  request.apiserver = NOOP_IDENTITY;
  next();
};
const noopFastify = (request, _reply, done) => {
  request.apiserver = NOOP_IDENTITY;
  done();
};
const noopKoa = (ctx, next) => {
  ctx.state.apiserver = NOOP_IDENTITY;
  return next();
};
const ctx = { req, request: { body: undefined }, state: {} };
const nextKoa = () => Promise.resolve();

const expressLoop = (mw) => (n) => {
  left = n;
  for (let i = 0; i < n; i++) mw(req, res, nextExpress);
  if (left !== 0) throw new Error(`express: ${left} calls did not reach next()`);
};
const fastifyLoop = (hook) => (n) => {
  left = n;
  for (let i = 0; i < n; i++) hook(fastifyRequest, reply, nextExpress);
  if (left !== 0) throw new Error(`fastify: ${left} calls did not reach done()`);
};
const koaLoop = (mw) => async (n) => {
  for (let i = 0; i < n; i++) await mw(ctx, nextKoa);
};

// One call each first: the token's verification (the miss) happens here, then every call is a hit.
await new Promise((resolve, reject) => expressMw(req, res, (e) => (e ? reject(e) : resolve())));
await new Promise((resolve, reject) =>
  hooks.onRequest(fastifyRequest, reply, (e) => (e ? reject(e) : resolve())),
);
await koaMw(ctx, nextKoa);
await verifier.verify({ headers });

const { hot, coldCalls, coldWarm } = sizes;
await measure('hot/express/noop', expressLoop(noopExpress), hot.calls, hot.warm);
await measure('hot/express/ours', expressLoop(expressMw), hot.calls, hot.warm);
await measure('hot/fastify/noop', fastifyLoop(noopFastify), hot.calls, hot.warm);
await measure('hot/fastify/ours', fastifyLoop(hooks.onRequest), hot.calls, hot.warm);
await measure('hot/koa/noop', koaLoop(noopKoa), hot.calls, hot.warm);
await measure('hot/koa/ours', koaLoop(koaMw), hot.calls, hot.warm);
// The floor of a keyed cache look-up: the secret-prefixed SHA-256 of the token that a hit computes.
const prefix = randomBytes(32).toString('hex');
let sink = '';
await measure(
  'hot/hash',
  (n) => {
    for (let i = 0; i < n; i++) sink = hash('sha256', prefix + token, 'base64');
  },
  hot.calls,
  hot.warm,
);
if (sink.length !== 44) throw new Error('hash: unexpected digest');
await measure(
  'hot/core/ours',
  async (n) => {
    const request = { headers, rawHeaders };
    for (let i = 0; i < n; i++) await verifier.verify(request);
  },
  hot.calls,
  hot.warm,
);

for (const [what, identity] of [
  ['express', req.apiserver],
  ['fastify', fastifyRequest.apiserver],
  ['koa', ctx.state.apiserver],
]) {
  if (
    identity?.verifiedBy !== 'jwks' ||
    identity.username !== 'system:serviceaccount:kube-system:webhook-auth'
  )
    throw new Error(`the ${what} middleware did not set the identity`);
}

// Cold: distinct valid tokens, each verified once; the crypto limit over the same tokens.
for (const alg of ['RS256', 'ES256']) {
  const tokens = cold[alg];
  const { kid } = JSON.parse(Buffer.from(tokens[0].split('.')[0], 'base64url').toString('utf8'));
  const key = createPublicKey({ key: info.jwks.keys.find((k) => k.kid === kid), format: 'jwk' });
  const keyArg = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  let next = 0;
  await measure(
    `cold/${alg}/crypto`,
    (n) => {
      for (let i = 0; i < n; i++) {
        const t = tokens[next++ % tokens.length];
        const dot = t.lastIndexOf('.');
        const data = Buffer.from(t.slice(0, dot));
        if (!verify('sha256', data, keyArg, Buffer.from(t.slice(dot + 1), 'base64url')))
          throw new Error(`crypto limit: a valid ${alg} token did not verify`);
      }
    },
    coldCalls,
    coldWarm,
  );
  // A fresh verifier: every token a miss (each is used once, the cache holds far more).
  const cv = createVerifier(ourOptions(info));
  await cv.ready();
  let i = 0;
  await measure(
    `cold/${alg}/ours`,
    async (n) => {
      for (let k = 0; k < n; k++) await cv.verifyToken(tokens[i++]);
      if (i > tokens.length) throw new Error(`cold ${alg}: not enough distinct tokens`);
    },
    coldCalls,
    coldWarm,
  );
  await cv.close();
}

await Promise.all([verifier.close(), expressMw.close(), koaMw.close(), hooks.onClose?.()]);
process.stdout.write(`${JSON.stringify({ segments })}\n`);
