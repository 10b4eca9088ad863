/** The audience the adapter tests' webhook expects (kube-apiserver's form for a Service). */
export const WEBHOOK_AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';

/**
 * The AdmissionReview shape kube-apiserver sends for a Deployment created in `demo` (see
 * test/fixtures/…/webhook/admission-request.json), with the given request `uid`.
 */
export const admissionReview = (uid: string) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid,
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    operation: 'CREATE',
    namespace: 'demo',
    name: 'web',
    object: { metadata: { name: 'web', namespace: 'demo' } },
  },
});

/** POSTs `body` as JSON to `<url>/validate` (an AdmissionReview by default). */
export const postJson = (
  url: string,
  headers: Record<string, string> = {},
  body: unknown = admissionReview('uid-1'),
) =>
  fetch(`${url}/validate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
