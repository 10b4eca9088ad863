import { describe, expect, it } from 'vitest';
import {
  ApiserverUnavailableError,
  AttestationMismatchError,
  ForbiddenIdentityError,
  InvalidSignatureError,
  IssuerUnavailableError,
  MissingTokenError,
  TokenExpiredError,
} from '../src/errors.js';
import { renderError } from '../src/http/render-error.js';

const SECRET = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

describe('renderError', () => {
  it('renders a 401 with the Bearer challenge and the code, not the precise reason', () => {
    const error = new InvalidSignatureError(`signature of ${SECRET} does not verify with kid abc`);
    const response = renderError(error);
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.body).toEqual({ error: 'invalid_signature', error_description: error.description });
    const sent = JSON.stringify(response);
    expect(sent).not.toContain(SECRET);
    expect(sent).not.toContain('kid abc');
  });

  it('renders a missing token as a bare Bearer challenge (RFC 6750 §3.1)', () => {
    const response = renderError(new MissingTokenError('no Authorization header'));
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.body.error).toBe('missing_token');
  });

  it('renders 403 for policy and attestation failures', () => {
    for (const error of [
      new ForbiddenIdentityError('sa x not allowed'),
      new AttestationMismatchError('group apps'),
    ]) {
      const response = renderError(error);
      expect(response.status).toBe(403);
      expect(response.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
      expect(response.headers['retry-after']).toBeUndefined();
      expect(response.body.error).toBe(error.code);
    }
  });

  it('renders 503 with Retry-After from the error, or 5 s by default', () => {
    const withDelay = renderError(new IssuerUnavailableError('jwks fetch timed out', { retryAfter: 12.2 }));
    expect(withDelay.status).toBe(503);
    expect(withDelay.headers['retry-after']).toBe('13'); // rounded up: never invite an early retry
    expect(withDelay.headers['www-authenticate']).toBeUndefined();
    const fallback = renderError(new ApiserverUnavailableError('ECONNRESET'));
    expect(fallback.headers['retry-after']).toBe('5');
    expect(fallback.body.error).toBe('apiserver_unavailable');
  });

  it('renders anything unexpected as a generic 503, never a 500 and never the message', () => {
    for (const thrown of [
      new TypeError(`Cannot read properties of undefined (reading '${SECRET}')`),
      'a string',
      undefined,
      null,
      { status: 200, code: 'expired', description: 'forged' },
      Object.assign(new Error('looks like ours'), { code: 'expired', status: 200, description: 'x' }),
    ]) {
      const response = renderError(thrown);
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.body).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the request cannot be verified right now; retry later',
      });
      expect(JSON.stringify(response)).not.toContain(SECRET);
    }
  });

  it('recognises an error from another copy of the core by its shape', () => {
    // What an error from the ESM build looks like to the CJS build: same fields, other class.
    const foreign = Object.assign(new Error('expired 3 h ago'), {
      code: 'expired',
      status: 401,
      description: 'the bearer token is missing or invalid',
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    });
    const response = renderError(foreign);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('expired');
    expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('never copies a header value that could split the response', () => {
    const foreign = Object.assign(new Error('x'), {
      code: 'expired',
      status: 401,
      description: 'd',
      headers: { 'www-authenticate': 'Bearer\r\nSet-Cookie: a=b' },
    });
    expect(renderError(foreign).headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(renderError(new TokenExpiredError('x')).headers['www-authenticate']).toMatch(
      /^Bearer error="invalid_token"/,
    );
  });
});
