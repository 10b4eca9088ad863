/**
 * Sends an AdmissionReview the way kube-apiserver does (POST, JSON, `Authorization: Bearer`,
 * `user-agent: kube-apiserver-admission`), over HTTPS trusting `ca`. Used by demo.mjs and the tests.
 */
import { request } from 'node:https';

/**
 * @param {{ url: string, ca: string | Buffer, token?: string, review: unknown, timeoutMs?: number }} options
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders, text: string, body: any }>}
 */
export function sendAdmissionReview({ url, ca, token, review, timeoutMs = 5000 }) {
  const payload = JSON.stringify(review);
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, */*',
    'user-agent': 'kube-apiserver-admission',
    'content-length': Buffer.byteLength(payload),
    ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
  };
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}?timeout=5s`,
      { method: 'POST', ca, headers, timeout: timeoutMs, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * An `admission.k8s.io/v1` AdmissionReview for creating a Deployment, shaped like the ones
 * kube-apiserver sends.
 * @param {{ uid?: string, namespace?: string, name?: string, labels?: Record<string, string> }} [options]
 */
export function deploymentReview({
  uid = crypto.randomUUID(),
  namespace = 'demo',
  name = 'web',
  labels = {},
} = {}) {
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
      name,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'admin', uid: 'admin-uid', groups: ['system:masters', 'system:authenticated'] },
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: { containers: [{ name, image: 'registry.example/web:1.0' }] },
          },
        },
      },
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}
