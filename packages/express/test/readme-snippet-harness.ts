import type { Express, Request, Response } from 'express';
import express from 'express';
import { WEBHOOK_AUDIENCE } from '../../../test/helpers/admission-review.js';

/** The app each README snippet mounted its routes on, by snippet index. */
export const snippetApps = new Map<number, Express>();

/** The free names of a README snippet: a fresh app, the webhook's audience, a handler echoing the caller. */
export function snippetHarness(index: number): {
  app: Express;
  audience: string;
  handler: (req: Request, res: Response) => void;
} {
  const app = express();
  snippetApps.set(index, app);
  return {
    app,
    audience: WEBHOOK_AUDIENCE,
    handler: (req, res) => {
      res.json({ username: req.apiserver?.username ?? null });
    },
  };
}
