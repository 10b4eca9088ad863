/**
 * `node examples/express-admission-webhook/demo-kep6060.mjs` (after `npx pnpm@10 build`): the
 * example webhook in KEP-6060 mode against a local kube-apiserver stand-in. The stand-in issues
 * webhook tokens as Kubernetes 1.37+ does — one audience (the webhook's service URL), 600 s,
 * bound to the ValidatingWebhookConfiguration, attesting the API groups the token may ask about —
 * and the webhook checks each AdmissionReview against them. Exits non-zero if any outcome is
 * not the expected one. No cluster needed.
 */
import { webhookAudience } from '@apiserver-token/core';
import { admissionReview, startTestApiserver } from '@apiserver-token/testing';
import { deploymentReview, sendAdmissionReview } from './send-review.mjs';
import { startServer } from './webhook.mjs';

const SERVICE = { name: 'my-webhook', namespace: 'my-ns', path: '/validate' };
const WEBHOOK = { kind: 'ValidatingWebhookConfiguration', name: 'my-webhook' };
const AUDIENCE = webhookAudience({ service: SERVICE });

const api = await startTestApiserver();
const tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
const events = [];
const webhook = await startServer({
  tls,
  host: '127.0.0.1',
  port: 0,
  auth: { audience: AUDIENCE, issuer: api.issuer, jwks: { ca: api.ca }, inCluster: false },
  admission: { boundTo: WEBHOOK },
  log: (event) => events.push(event),
});

const secret = (uid) =>
  admissionReview({
    uid,
    kind: { version: 'v1', kind: 'Secret' },
    resource: { version: 'v1', resource: 'secrets' },
    namespace: 'default',
    name: 'db-password',
  });
const scale = (uid) =>
  admissionReview({
    uid,
    operation: 'UPDATE',
    kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    subResource: 'scale',
    namespace: 'default',
    name: 'web',
    object: { apiVersion: 'autoscaling/v1', kind: 'Scale', spec: { replicas: 3 } },
  });
const token = (apiGroups, extra = {}) =>
  api.mintWebhookToken({ webhook: WEBHOOK, audience: SERVICE, apiGroups, ...extra });

const cases = [
  [
    '["apps"] token, Deployment labelled team=web',
    () => token(['apps']),
    (uid) => deploymentReview({ uid, labels: { team: 'web' } }),
    'allowed',
  ],
  ['["apps"] token, deployments/scale (a Scale object)', () => token(['apps']), scale, 'allowed'],
  ['["apps"] token, Secret', () => token(['apps']), secret, 'denied 403 attestation_mismatch'],
  ['["*"] token, Secret', () => token(['*']), secret, 'allowed'],
  [
    '["*"] token bound to another webhook configuration',
    () => token(['*'], { webhook: { ...WEBHOOK, name: 'other' } }),
    secret,
    'denied 403 attestation_mismatch',
  ],
  [
    "token for another webhook's audience",
    () =>
      api.mintWebhookToken({
        webhook: WEBHOOK,
        audience: { name: 'other', namespace: 'other-ns' },
        apiGroups: ['*'],
      }),
    secret,
    'denied 401 audience_mismatch',
  ],
];

console.log(
  `KEP-6060 demo: webhook ${webhook.url}/validate, audience ${AUDIENCE}, bound to ${WEBHOOK.kind}/${WEBHOOK.name}\n`,
);
let failures = 0;
try {
  for (const [index, [title, makeToken, makeReview, expected]] of cases.entries()) {
    const uid = `kep6060-${index + 1}`;
    const before = events.length;
    const res = await sendAdmissionReview({
      url: `${webhook.url}/validate`,
      ca: tls.ca,
      token: await makeToken(),
      review: makeReview(uid),
    });
    const response = res.body?.response;
    const rejected = events.slice(before).find((event) => event.event === 'rejected');
    const got = response?.allowed
      ? 'allowed'
      : `denied ${response?.status?.code} ${rejected?.code ?? 'policy'}`;
    const ok = res.status === 200 && response?.uid === uid && got === expected;
    if (!ok) failures += 1;
    console.log(`  ${ok ? '✔' : '✘'} ${title.padEnd(52)} ${got}${ok ? '' : `   (expected ${expected})`}`);
  }
} finally {
  await webhook.close();
  await api.close();
}
console.log(`\n${cases.length - failures}/${cases.length} outcomes as expected.`);
process.exitCode = failures === 0 ? 0 : 1;
