// Express apps under test: bare, ours, and the anchor libraries, all answering GET / with the subject.
import https from 'node:https';
import express from 'express';
import { expressjwt } from 'express-jwt';
import { auth } from 'express-oauth2-jwt-bearer';
import jwksRsa from 'jwks-rsa';
import { loadOurs, ourOptions } from '../ours.mjs';
import { NOOP_IDENTITY } from './noop.mjs';

export const VARIANTS = ['none', 'noop', 'ours', 'express-oauth2-jwt-bearer', 'express-jwt'];

export async function buildExpress(variant, info) {
  const app = express();
  app.disable('x-powered-by');
  switch (variant) {
    case 'none':
      app.get('/', (_req, res) => {
        res.send('ok');
      });
      break;
    case 'noop':
      // The physical limit of any middleware: one function call that sets req.apiserver.
      app.use((req, _res, next) => {
        req.apiserver = NOOP_IDENTITY;
        next();
      });
      app.get('/', (req, res) => {
        res.send(req.apiserver.username);
      });
      break;
    case 'ours': {
      const ours = await loadOurs('@apiserver-token/express');
      if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
      const middleware = ours.fn(ourOptions(info));
      // Keys loaded before the first request, as a readiness probe would wait for.
      await middleware.ready?.();
      app.use(middleware);
      app.get('/', (req, res) => {
        res.send(req.apiserver.username);
      });
      break;
    }
    case 'express-oauth2-jwt-bearer':
      app.use(
        auth({
          issuer: info.issuer,
          jwksUri: info.jwksUri,
          audience: info.audience,
          tokenSigningAlg: 'RS256',
          agent: new https.Agent({ ca: info.ca }),
        }),
      );
      app.get('/', (req, res) => {
        res.send(req.auth.payload.sub);
      });
      break;
    case 'express-jwt':
      app.use(
        expressjwt({
          secret: jwksRsa.expressJwtSecret({
            jwksUri: info.jwksUri,
            cache: true,
            rateLimit: true,
            jwksRequestsPerMinute: 10,
            requestAgent: new https.Agent({ ca: info.ca }),
          }),
          audience: info.audience,
          issuer: info.issuer,
          algorithms: ['RS256'],
        }),
      );
      app.get('/', (req, res) => {
        res.send(req.auth.sub);
      });
      break;
    default:
      throw new Error(`unknown express variant ${variant}`);
  }
  // Rejections answer with their status (401) and no stack; anything else would be a bench bug.
  app.use((err, _req, res, _next) => {
    res.status(err.status ?? err.statusCode ?? 500).send(err.code ?? 'error');
  });
  return app;
}
