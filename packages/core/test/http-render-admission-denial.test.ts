import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AttestationMismatchError, InvalidSignatureError, IssuerUnavailableError } from '../src/errors.js';
import { renderAdmissionDenial } from '../src/http/render-admission-denial.js';

// The AdmissionReview a real kube-apiserver v1.28.4 sent to a webhook.
const recorded = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/kube-apiserver-v1.28.4/webhook/admission-request.json', import.meta.url),
    'utf8',
  ),
) as { body: { apiVersion: string; request: { uid: string } } };

describe('renderAdmissionDenial', () => {
  it('denies the recorded AdmissionReview with HTTP 200, its uid echoed and the error status as code', () => {
    const response = renderAdmissionDenial(new InvalidSignatureError('bad signature'), recorded.body);
    expect(response).toBeDefined();
    expect(response!.status).toBe(200);
    expect(response!.body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: '2186f8ef-b96e-46cb-86a4-c264c742fac0',
        allowed: false,
        status: {
          status: 'Failure',
          code: 401,
          reason: 'Unauthorized',
          message: 'apiserver-token: the bearer token is missing or invalid (invalid_signature)',
        },
      },
    });
    expect(JSON.stringify(response)).not.toContain('bad signature');
  });

  it('maps 403 and 503, and unexpected errors to 503, keeping the review apiVersion', () => {
    const v1beta1 = { ...recorded.body, apiVersion: 'admission.k8s.io/v1beta1' };
    const forbidden = renderAdmissionDenial(new AttestationMismatchError('apps not attested'), v1beta1);
    expect(forbidden!.body.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(forbidden!.body.response.status).toMatchObject({ code: 403, reason: 'Forbidden' });
    const unavailable = renderAdmissionDenial(new IssuerUnavailableError('down'), recorded.body);
    expect(unavailable!.body.response.status).toMatchObject({ code: 503, reason: 'ServiceUnavailable' });
    const unexpected = renderAdmissionDenial(new Error('boom at line 3'), recorded.body);
    expect(unexpected!.body.response.status.code).toBe(503);
    expect(unexpected!.body.response.status.message).not.toContain('boom');
  });

  it('returns undefined for anything that is not an AdmissionReview with a uid', () => {
    const error = new InvalidSignatureError('x');
    for (const body of [
      undefined,
      null,
      'text',
      {},
      { ...recorded.body, kind: 'ConversionReview' },
      { ...recorded.body, apiVersion: 'admission.k8s.io/v2' },
      { ...recorded.body, request: { uid: '' } },
      { ...recorded.body, request: { uid: 42 } },
      { ...recorded.body, request: { uid: 'u'.repeat(129) } },
      { ...recorded.body, request: null },
    ]) {
      expect(renderAdmissionDenial(error, body)).toBeUndefined();
    }
  });
});
