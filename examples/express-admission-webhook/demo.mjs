/**
 * `npx pnpm@10 demo`: a local kube-apiserver stand-in (@apiserver-token/testing) and this
 * example webhook, both over HTTPS on 127.0.0.1. Sends one genuine AdmissionReview and several
 * forged ones, prints what happened to each, and exits non-zero if any outcome is not the
 * expected one. No cluster needed.
 */
import { startTestApiserver } from '@apiserver-token/testing';
import { deploymentReview, sendAdmissionReview } from './send-review.mjs';
import { startServer } from './webhook.mjs';

// The audience kube-apiserver uses for a webhook behind Service my-webhook in my-ns on port 443, path /validate.
const AUDIENCE = 'https://my-webhook.my-ns.svc:443/validate';
const CALLER = { namespace: 'kube-system', serviceAccount: 'apiserver-webhook-caller' };

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const green = (text) => paint(32, text);
const red = (text) => paint(31, text);
const dim = (text) => paint(2, text);
const bold = (text) => paint(1, text);

const started = performance.now();
const api = await startTestApiserver();
const events = [];
const tls = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
const webhook = await startServer({
  tls,
  host: '127.0.0.1',
  port: 0,
  auth: {
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    inCluster: false,
    // The library's own caller restriction (APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS in the container).
    policy: { serviceAccounts: [`${CALLER.namespace}:${CALLER.serviceAccount}`] },
  },
  log: (event) => events.push(event),
});

const now = Math.floor(Date.now() / 1000);
const genuine = (extra = {}) => api.mintToken({ ...CALLER, audiences: [AUDIENCE], ...extra });

/** Each case: how the token is made, what the webhook must answer. */
const cases = [
  {
    title: 'genuine token, Deployment labelled team=web',
    token: () => genuine(),
    labels: { team: 'web' },
    expect: { allowed: true },
  },
  {
    title: 'genuine token, Deployment without the label',
    token: () => genuine(),
    expect: { allowed: false, code: 403, reason: 'policy' },
  },
  {
    title: 'forged: signature tampered with',
    token: () => genuine({ tamper: 'signature' }),
    expect: { allowed: false, code: 401, reason: 'invalid_signature' },
  },
  {
    title: "forged: signed with the attacker's own key",
    token: () => genuine({ signWith: 'foreign' }),
    expect: { allowed: false, code: 401, reason: 'unknown_key' },
  },
  {
    title: 'forged: "alg": "none"',
    token: () => genuine({ header: { alg: 'none' } }),
    expect: { allowed: false, code: 401, reason: 'algorithm_not_allowed' },
  },
  {
    title: 'forged: token for another audience',
    token: () => genuine({ audiences: ['https://other-webhook.other-ns.svc:443/validate'] }),
    expect: { allowed: false, code: 401, reason: 'audience_mismatch' },
  },
  {
    title: 'forged: expired an hour ago',
    token: () => genuine({ issuedAt: now - 7200, expiresIn: 3600 }),
    expect: { allowed: false, code: 401, reason: 'expired' },
  },
  {
    title: 'forged: another issuer',
    token: () => genuine({ issuer: 'https://attacker.example' }),
    expect: { allowed: false, code: 401, reason: 'unknown_issuer' },
  },
  {
    title: 'forged: no token at all',
    token: async () => undefined,
    expect: { allowed: false, code: 401, reason: 'missing_token' },
  },
  {
    title: 'genuine token of another service account',
    token: () => api.mintToken({ namespace: 'default', serviceAccount: 'some-app', audiences: [AUDIENCE] }),
    labels: { team: 'web' },
    expect: { allowed: false, code: 403, reason: 'forbidden' },
  },
];

const out = [];
out.push('');
out.push(bold('apiserver-token demo: a validating admission webhook behind @apiserver-token/express'));
out.push(
  `  test kube-apiserver   ${api.url}   ${dim(`(issuer ${api.issuer}, JWKS over HTTPS with its own CA)`)}`,
);
out.push(`  webhook               ${webhook.url}/validate`);
out.push(`  expected audience     ${AUDIENCE}`);
out.push(`  allowed caller        system:serviceaccount:${CALLER.namespace}:${CALLER.serviceAccount}`);
out.push('');

let failures = 0;
try {
  for (const [index, test] of cases.entries()) {
    const uid = `demo-${index + 1}-${crypto.randomUUID().slice(0, 8)}`;
    const token = await test.token();
    const before = events.length;
    const res = await sendAdmissionReview({
      url: `${webhook.url}/validate`,
      ca: tls.ca,
      token,
      review: deploymentReview({ uid, labels: test.labels }),
    });
    const response = res.body?.response;
    const logged = events.slice(before);
    const outcome = describeOutcome(res, response, logged);
    const ok =
      res.status === 200 &&
      response?.uid === uid &&
      response.allowed === test.expect.allowed &&
      (test.expect.allowed ||
        (response.status?.code === test.expect.code &&
          outcome.reason === test.expect.reason &&
          // What kube-apiserver (and the user) see carries the code too, never the precise reason.
          (test.expect.reason === 'policy' ||
            response.status?.message?.endsWith(`(${test.expect.reason})`)))) &&
      // A rejected call must never have reached the policy handler.
      (test.expect.allowed ||
        test.expect.reason === 'policy' ||
        !logged.some((event) => event.event === 'reviewed')) &&
      (token === undefined || !res.text.includes(token));
    if (!ok) failures += 1;
    const mark = ok ? green('✔') : red('✘');
    const verdict =
      response?.allowed === true ? green('allowed') : red(`denied ${response?.status?.code ?? res.status}`);
    out.push(`  ${mark} ${test.title.padEnd(46)} ${verdict.padEnd(color ? 21 : 12)} ${outcome.detail}`);
    if (!ok) {
      const wanted = test.expect.allowed ? 'allowed' : `denied ${test.expect.code} ${test.expect.reason}`;
      out.push(red(`      expected ${wanted}; got HTTP ${res.status} ${res.text.slice(0, 300)}`));
    }
  }
} finally {
  await webhook.close();
  await api.close();
}

const seconds = ((performance.now() - started) / 1000).toFixed(1);
out.push('');
out.push(
  failures === 0
    ? green(
        `${cases.length}/${cases.length} outcomes as expected (${seconds} s). The forged requests never reached the policy.`,
      )
    : red(`${failures} of ${cases.length} outcomes NOT as expected (${seconds} s).`),
);
out.push(
  dim('Rejections are AdmissionReview denials (HTTP 200, allowed: false, status.code 401/403), uid echoed.'),
);
out.push(
  dim('A forger gets nothing from that either way: calling the webhook directly admits nothing. It is the'),
);
out.push(
  dim("apiserver's own calls it protects: if their token is refused (wrong audience, stale token file),"),
);
out.push(
  dim('the object is denied, failing closed even under failurePolicy: Ignore, where a 401 would admit it.'),
);
out.push('');
process.stdout.write(`${out.join('\n')}\n`);
process.exitCode = failures === 0 ? 0 : 1;

/** What to print for one answer, and the reason code it shows. */
function describeOutcome(res, response, logged) {
  const reviewed = logged.find((event) => event.event === 'reviewed');
  const rejected = logged.find((event) => event.event === 'rejected');
  if (response?.allowed === true && reviewed) {
    return { reason: 'allowed', detail: `caller ${reviewed.caller} ${dim(`(token ${reviewed.token})`)}` };
  }
  if (rejected) {
    // The code is also in the denial's message; the precise reason only ever reaches the webhook's log.
    return {
      reason: rejected.code,
      detail: `${String(rejected.code).padEnd(22)} ${dim(`log: ${rejected.reason}`)}`,
    };
  }
  if (reviewed && response?.allowed === false) {
    return { reason: 'policy', detail: `policy: ${response.status?.message}` };
  }
  return { reason: 'unknown', detail: `HTTP ${res.status}` };
}
