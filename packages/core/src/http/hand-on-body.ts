/**
 * Hands an AdmissionReview the guard read from a Node request's stream on to the handler, as a
 * body parser would: `req.body`, and `req._body` set the way body-parser (Express's
 * `express.json()`, Connect's `bodyParser.json()`) recognises a parsed body, so that a parser
 * mounted after the guard leaves the spent stream alone instead of failing on it (Express 4: a
 * 500).
 */
export function handOnParsedBody(req: object, body: unknown): void {
  const target = req as { body?: unknown; _body?: boolean };
  target.body = body;
  target._body = true;
}
