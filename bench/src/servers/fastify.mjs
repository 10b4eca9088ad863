// Fastify apps under test: bare, ours, and @fastify/jwt (verify cache on and off) over jwks-rsa.
import https from 'node:https';
import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';
import jwksRsa from 'jwks-rsa';
import { Registry } from 'prom-client';
import { BOUND_PER_SECOND, loadOurs, ourOptions } from '../ours.mjs';
import { NOOP_IDENTITY } from './noop.mjs';

export const VARIANTS = ['none', 'noop', 'ours', 'ours-metrics', 'fastify-jwt-cache', 'fastify-jwt-nocache'];

export async function buildFastify(variant, info, keepAliveTimeout) {
  const app = Fastify({ logger: false, ...(keepAliveTimeout !== undefined && { keepAliveTimeout }) });
  switch (variant) {
    case 'none':
      app.get('/', async () => 'ok');
      break;
    case 'noop':
      // The physical limit of any plugin: a declared request property and a callback onRequest hook
      // that sets it (the shape ours has).
      app.decorateRequest('apiserver', undefined);
      app.addHook('onRequest', (request, _reply, done) => {
        request.apiserver = NOOP_IDENTITY;
        done();
      });
      app.get('/', async (request) => request.apiserver.username);
      break;
    case 'ours':
    case 'ours-policy':
    case 'ours-bound':
    case 'ours-metrics': {
      const ours = await loadOurs('@apiserver-token/fastify');
      if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
      const options = ourOptions(info);
      // The allow-list a webhook would set: only the apiserver's own service account.
      if (variant === 'ours-policy') options.policy = { serviceAccounts: ['kube-system:webhook-auth'] };
      // The attack's third row: a bound on signature checks (the value: see ours.mjs).
      if (variant === 'ours-bound') options.maxVerificationsPerSecond = BOUND_PER_SECOND;
      // The metrics row: the same plugin counting into a prom-client registry (the cost of `metrics`).
      if (variant === 'ours-metrics') options.metrics = { registry: new Registry() };
      await app.register(ours.fn, options);
      app.get('/', async (request) => request.apiserver.username);
      break;
    }
    case 'fastify-jwt-cache':
    case 'fastify-jwt-nocache': {
      // The JWKS pattern from @fastify/jwt's README ("Verifying with JWKS"), with jwks-rsa as key source.
      const client = jwksRsa({
        jwksUri: info.jwksUri,
        cache: true,
        rateLimit: true,
        jwksRequestsPerMinute: 10,
        requestAgent: new https.Agent({ ca: info.ca }),
      });
      await app.register(fastifyJwt, {
        decode: { complete: true },
        secret: (_request, token) => client.getSigningKey(token.header.kid).then((key) => key.getPublicKey()),
        verify: {
          cache: variant === 'fastify-jwt-cache',
          algorithms: ['RS256'],
          allowedIss: info.issuer,
          allowedAud: info.audience,
        },
      });
      app.addHook('onRequest', async (request) => {
        await request.jwtVerify();
      });
      app.get('/', async (request) => request.user.sub);
      break;
    }
    default:
      throw new Error(`unknown fastify variant ${variant}`);
  }
  return app;
}
