// Plain node:http servers under test: bare, a no-op handler wrapper, and ours (the
// `createApiserverTokenGuard` of @apiserver-token/node, awaited in the request handler).
import { createServer } from 'node:http';
import { loadOurs, ourOptions } from '../ours.mjs';
import { NOOP_IDENTITY } from './noop.mjs';

export const VARIANTS = ['none', 'noop', 'ours'];

function answer(res, body) {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

/** Resolves with a node:http server, not yet listening. */
export async function buildNode(variant, info) {
  switch (variant) {
    case 'none':
      return createServer((_req, res) => answer(res, 'ok'));
    case 'noop': {
      // The physical limit of a guard awaited in the handler: an async function that sets
      // req.apiserver and resolves to the identity, as ours does on a cache hit.
      const guard = async (req) => {
        req.apiserver = NOOP_IDENTITY;
        return NOOP_IDENTITY;
      };
      return createServer(async (req, res) => {
        const identity = await guard(req, res);
        answer(res, identity.username);
      });
    }
    case 'ours': {
      const ours = await loadOurs('@apiserver-token/node');
      if (!ours.available) throw Object.assign(new Error(ours.reason), { code: 'NOT_AVAILABLE' });
      const guard = ours.fn(ourOptions(info));
      // Keys loaded before the first request, as a readiness probe would wait for.
      await guard.ready();
      return createServer(async (req, res) => {
        const identity = await guard(req, res);
        if (identity === undefined) return; // refused: the guard has answered
        answer(res, identity.username);
      });
    }
    default:
      throw new Error(`unknown node variant ${variant}`);
  }
}
