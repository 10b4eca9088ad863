import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IssuedCertificate, startTestApiserver, type TestApiserver } from '../src/index.js';
import { decodeJwt, shapeOf } from './helpers.js';

// The fidelity suite: every recorded exchange of the HTTP surface (discovery, JWKS, TokenRequest,
// SubjectAccessReview, request errors, unknown paths) of both recorded kube-apiservers, replayed
// against a kit set up like the recorded cluster, in one table. Compared: status, the headers
// that matter (content type, cache control, nosniff, audit and priority-and-fairness ids),
// Status bodies word for word and other JSON by shape and verdict; values that must differ (uids,
// times, keys, tokens, the server's address) are normalized first.

const ROOT = new URL('../../../test/fixtures/', import.meta.url);
const V136 = 'kube-apiserver-v1.36.3/';

interface Exchange {
  name: string;
  request: { method: string; path: string; caller: string; headers: Record<string, string>; body?: unknown };
  response: {
    status: number;
    headers: Record<string, string>;
    body?: unknown;
    bodyBase64?: string;
  };
}

interface Row extends Exchange {
  version: '1.28' | '1.36';
  folder: string;
  /** Which kit answers: discovery anonymous (as recorded for 1.36) or authenticated (stock RBAC). */
  kit: 'v136' | 'v136-strict' | 'v128-strict';
}

const index = (folder: string): Exchange[] =>
  JSON.parse(readFileSync(new URL(`${V136}${folder}/index.json`, ROOT), 'utf8')) as Exchange[];

/** Rows the kit does not imitate, with the reason (also listed in the testing README). */
const NOT_IMITATED: Record<string, string> = {
  'errors/selfsubjectreview-service-account': 'SelfSubjectReview is not served',
  'subjectaccessreviews/14-node-authorizer': 'no Node authorizer',
};

function rows136(folder: string, kit: Row['kit']): Row[] {
  return index(folder)
    .filter((e) => !NOT_IMITATED[`${folder}/${e.name}`])
    .map((e) => ({ ...e, version: '1.36' as const, folder, kit }));
}

/** v1.28.4 kept raw status lines and headers: `*.headers.txt` and `*.txt` Status answers. */
function rows128(): Row[] {
  const text = (name: string) =>
    readFileSync(new URL(`kube-apiserver-v1.28.4/discovery/${name}`, ROOT), 'utf8');
  const headers = (raw: string) =>
    Object.fromEntries(
      raw
        .split('\n')
        .slice(1)
        .filter((l) => l.includes(':'))
        .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
  const status = (raw: string) => Number(/^HTTP\/\S+ (\d+)/m.exec(raw)?.[1]);
  const statusFile = (name: string) => {
    const raw = text(name);
    const body = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as { code: number };
    return { status: body.code, headers: {}, body };
  };
  const sa = 'bearer token: service account demo/webhook-client, API audience';
  return [
    {
      name: 'openid-configuration',
      request: { method: 'GET', path: '/.well-known/openid-configuration', caller: sa, headers: {} },
      response: {
        status: status(text('openid-configuration.headers.txt')),
        headers: headers(text('openid-configuration.headers.txt')),
        body: JSON.parse(text('openid-configuration.json')),
      },
    },
    {
      name: 'jwks',
      request: { method: 'GET', path: '/openid/v1/jwks', caller: sa, headers: {} },
      response: {
        status: status(text('jwks.headers.txt')),
        headers: headers(text('jwks.headers.txt')),
        body: JSON.parse(text('jwks.json')),
      },
    },
    {
      name: 'jwks.anonymous-before-binding',
      request: { method: 'GET', path: '/openid/v1/jwks', caller: 'no credentials (anonymous)', headers: {} },
      response: statusFile('jwks.anonymous-before-binding.txt'),
    },
    {
      name: 'jwks.with-wrong-audience-token',
      request: {
        method: 'GET',
        path: '/openid/v1/jwks',
        caller: 'bearer token: service account token with audience https://webhook.example only',
        headers: {},
      },
      response: statusFile('jwks.with-wrong-audience-token.txt'),
    },
  ].map((e) => ({ ...e, version: '1.28' as const, folder: 'discovery', kit: 'v128-strict' as const }));
}

const TABLE: Row[] = [
  ...rows128(),
  ...rows136('discovery', 'v136'),
  ...rows136('discovery/accept', 'v136'),
  ...rows136('discovery/methods', 'v136'),
  ...rows136('discovery/not-anonymous', 'v136-strict'),
  ...rows136('errors', 'v136'),
  ...rows136('subjectaccessreviews', 'v136'),
  ...rows136('tokenrequests', 'v136'),
];

// ---- normalizing what must differ --------------------------------------------------------------

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/g;
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/g;
const SERVER = /https:\/\/127\.0\.0\.1:\d+/g;

function normalize(value: unknown): unknown {
  if (typeof value === 'string') {
    return value
      .replace(JWT, '<jwt>')
      .replace(UUID, '<uid>')
      .replace(TIME, '<time>')
      .replace(SERVER, '<server>');
  }
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

// ---- the kits and the callers --------------------------------------------------------------------

const kits: Partial<Record<Row['kit'], TestApiserver>> = {};
const certs = new Map<TestApiserver, Record<string, IssuedCertificate>>();

async function setUp(kit: TestApiserver): Promise<void> {
  kit.createObject('ServiceAccount', 'demo', 'webhook-client');
  kit.createObject('ServiceAccount', 'demo', 'reviewer');
  kit.createObject('ServiceAccount', 'demo', 'delegator');
  kit.createObject('Pod', 'demo', 'p1', { serviceAccount: 'webhook-client' });
  kit.createObject('Secret', 'demo', 'bindme');
  kit.createObject('Node', '', 'node-1');
  kit.createObject('Pod', 'demo', 'node-pod', { serviceAccount: 'webhook-client', nodeName: 'node-1' });
  kit.createObject('Pod', 'demo', 'ghost-node-pod', {
    serviceAccount: 'webhook-client',
    nodeName: 'ghost-node',
  });
  kit.grantReview({ user: 'system:serviceaccount:demo:delegator' });
  kit.allow({
    user: 'system:serviceaccount:demo:webhook-client',
    verb: ['get', 'list', 'watch'],
    resource: 'configmaps',
    namespace: 'demo',
    binding: 'configmap-reader',
  });
}

async function callerOf(
  kit: TestApiserver,
  caller: string,
): Promise<{ token?: string; cert?: IssuedCertificate }> {
  if (caller.startsWith('no credentials')) return {};
  const issued = certs.get(kit) ?? {};
  certs.set(kit, issued);
  if (caller.startsWith('x509 client certificate (O=system:masters')) {
    issued.admin ??= await kit.issueClientCertificate({
      commonName: 'admin',
      organizations: ['system:masters'],
    });
    return { cert: issued.admin };
  }
  if (caller.startsWith('x509 client certificate: user jane')) {
    issued.jane ??= await kit.issueClientCertificate({ commonName: 'jane', organizations: ['dev-team'] });
    return { cert: issued.jane };
  }
  if (caller === 'bearer token: garbage') return { token: 'garbage' };
  const sa = /service account demo\/([\w-]+)/.exec(caller)?.[1] ?? 'webhook-client';
  if (caller.includes('expired')) {
    const issuedAt = Math.floor(Date.now() / 1000) - 7200;
    return {
      token: await kit.mintToken({
        namespace: 'demo',
        serviceAccount: 'reviewer',
        issuedAt,
        expiresIn: 3600,
      }),
    };
  }
  if (caller.includes('audience https://webhook.example only')) {
    return {
      token: await kit.mintToken({
        namespace: 'demo',
        serviceAccount: sa,
        audiences: ['https://webhook.example'],
      }),
    };
  }
  if (caller.includes('bound to pod node-pod')) {
    return {
      token: await kit.mintToken({
        namespace: 'demo',
        serviceAccount: sa,
        boundObject: { kind: 'Pod', name: 'node-pod' },
      }),
    };
  }
  return { token: await kit.mintToken({ namespace: 'demo', serviceAccount: sa }) };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(
  kit: TestApiserver,
  row: Row,
  who: { token?: string; cert?: IssuedCertificate },
): Promise<Reply> {
  const { body } = row.request;
  const payload =
    body === undefined || body === null
      ? undefined
      : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const headers: Record<string, string> = { ...row.request.headers };
  if (who.token !== undefined) headers.authorization = `Bearer ${who.token}`;
  if (payload) headers['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(row.request.path, kit.url),
      {
        method: row.request.method,
        ca: kit.ca,
        agent: false,
        headers,
        ...(who.cert ? { cert: who.cert.cert, key: who.cert.key } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  const clock = () => Date.now();
  kits.v136 = await startTestApiserver({ now: clock });
  kits['v136-strict'] = await startTestApiserver({ now: clock, discovery: 'authenticated' });
  kits['v128-strict'] = await startTestApiserver({
    now: clock,
    discovery: 'authenticated',
    kubernetesVersion: '1.28',
  });
  for (const kit of Object.values(kits)) await setUp(kit!);
});
afterAll(async () => {
  for (const kit of Object.values(kits)) await kit?.close();
});

describe('fidelity: the recorded HTTP surface of kube-apiserver v1.28.4 and v1.36.3, replayed', () => {
  it('covers every recorded exchange of these folders but the ones listed as not imitated', () => {
    expect(TABLE.length).toBeGreaterThan(110);
  });

  it.each(TABLE.map((row) => [`v${row.version} ${row.folder}/${row.name}`, row] as const))(
    '%s',
    async (_, row) => {
      const kit = kits[row.kit]!;
      const reply = await send(kit, row, await callerOf(kit, row.request.caller));
      const want = row.response;
      expect(reply.status, 'status').toBe(want.status);
      const header = (name: string) => reply.headers[name] as string | undefined;
      if (want.headers['content-type'])
        expect(header('content-type'), 'content-type').toBe(want.headers['content-type']);
      if (want.headers['cache-control'])
        expect(header('cache-control'), 'cache-control').toBe(want.headers['cache-control']);
      if (row.version === '1.36') {
        expect(header('x-content-type-options'), 'nosniff').toBe(want.headers['x-content-type-options']);
        for (const name of [
          'audit-id',
          'x-kubernetes-pf-flowschema-uid',
          'x-kubernetes-pf-prioritylevel-uid',
        ]) {
          expect(header(name) !== undefined, name).toBe(want.headers[name] !== undefined);
        }
      }
      if (row.request.method === 'HEAD' || want.bodyBase64 !== undefined) return;
      const text = reply.body.toString('utf8');
      if (typeof want.body === 'string') {
        expect(normalize(text)).toBe(normalize(want.body));
        return;
      }
      const got = JSON.parse(text) as Record<string, unknown>;
      const recorded = want.body as Record<string, unknown>;
      if (recorded.kind === 'Status') {
        expect(normalize(got)).toEqual(normalize(recorded));
        return;
      }
      expect(shapeOf(got).sort(), 'JSON shape').toEqual(shapeOf(recorded).sort());
      if (recorded.kind === 'SubjectAccessReview')
        expect(normalize(got.status)).toEqual(normalize(recorded.status));
      if (recorded.kind === 'TokenRequest') {
        expect(normalize(got.spec)).toEqual(normalize(recorded.spec));
        expect(normalize(got.metadata)).toEqual(normalize(recorded.metadata));
        const token = (got.status as { token: string }).token;
        const wanted = decodeJwt((recorded.status as { token: string }).token).claims;
        const claims = decodeJwt(token).claims;
        expect(Object.keys(claims)).toEqual(Object.keys(wanted));
        expect(shapeOf(claims['kubernetes.io']).sort()).toEqual(shapeOf(wanted['kubernetes.io']).sort());
        expect((claims.exp as number) - (claims.iat as number)).toBe(
          (wanted.exp as number) - (wanted.iat as number),
        );
      }
    },
  );
});
