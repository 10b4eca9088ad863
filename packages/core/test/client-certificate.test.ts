/**
 * Client certificates (`clientCertificate`) on a real HTTPS server with `requestCert: true`,
 * with certificates issued in the test by the testing kit's client CA (and by another kit's, as
 * an untrusted CA). The verifier reads only the TLS socket, never a header.
 */
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type IssuedCertificate, startTestApiserver, type TestApiserver } from '@apiserver-token/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiserverTokenConfigError,
  type ApiserverTokenVerifier,
  createVerifier,
  renderError,
  type VerifierOptions,
} from '../src/index.js';

const AUDIENCE = 'https://my-api.my-ns.svc:443/';
let api: TestApiserver;
let foreign: TestApiserver;
let serverCert: IssuedCertificate;
let proxyClient: IssuedCertificate;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [api, foreign] = await Promise.all([startTestApiserver(), startTestApiserver()]);
  serverCert = await api.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  proxyClient = await api.issueClientCertificate({
    commonName: 'front-proxy-client',
    organizations: ['system:masters', 'aggregator'],
  });
});
afterAll(async () => {
  await Promise.all([api.close(), foreign.close()]);
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function verifier(options: Partial<VerifierOptions>): ApiserverTokenVerifier {
  const created = createVerifier({
    audience: AUDIENCE,
    issuer: api.issuer,
    jwks: { ca: api.ca },
    inCluster: false,
    env: {},
    ...options,
  });
  closers.push(() => created.close());
  return created;
}

/** An HTTPS server asking for client certificates; `tlsCa` is what the TLS layer itself trusts. */
async function serve(v: ApiserverTokenVerifier, tlsCa: string = foreign.clientCa): Promise<string> {
  const server: Server = createServer(
    { cert: serverCert.cert, key: serverCert.key, requestCert: true, rejectUnauthorized: false, ca: tlsCa },
    (req, res) => {
      v.verify({ headers: req.headers, rawHeaders: req.rawHeaders, socket: req.socket }).then(
        (identity) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(identity));
        },
        (error: unknown) => {
          const rendered = renderError(error);
          res.writeHead(rendered.status, rendered.headers);
          res.end(JSON.stringify(rendered.body));
        },
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

interface Answer {
  status: number;
  body: { error?: string; tokenFingerprint?: string; clientCertificate: { fingerprint256: string } };
}

function call(
  url: string,
  {
    cert,
    token,
    headers = {},
  }: { cert?: IssuedCertificate; token?: string; headers?: Record<string, string> },
): Promise<Answer> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'GET',
        agent: false,
        ca: serverCert.ca,
        ...(cert && { cert: cert.cert, key: cert.key }),
        headers: { ...headers, ...(token && { authorization: `Bearer ${token}` }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const token = () =>
  api.mintToken({ namespace: 'kube-system', serviceAccount: 'apiserver', audiences: [AUDIENCE] });

describe("clientCertificate: { mode: 'accept' }", () => {
  it('a verified certificate is enough: username = CN, groups = O, verifiedBy client-certificate', async () => {
    const url = await serve(
      verifier({
        clientCertificate: { mode: 'accept', ca: api.clientCa, allowedCommonNames: ['front-proxy-client'] },
      }),
    );
    const answer = await call(url, { cert: proxyClient });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      username: 'front-proxy-client',
      groups: ['system:masters', 'aggregator'],
      verifiedBy: 'client-certificate',
      clientCertificate: {
        commonName: 'front-proxy-client',
        organizations: ['system:masters', 'aggregator'],
      },
    });
    expect(answer.body.tokenFingerprint).toMatch(/^[\w-]{16}$/);
    expect(answer.body.clientCertificate.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('without a usable certificate the token is verified as usual', async () => {
    const url = await serve(
      verifier({
        clientCertificate: { mode: 'accept', ca: api.clientCa, allowedCommonNames: ['front-proxy-client'] },
      }),
    );
    expect((await call(url, { token: await token() })).body).toMatchObject({ verifiedBy: 'jwks' });
    expect(await call(url, {})).toMatchObject({ status: 401, body: { error: 'missing_token' } });
    // A certificate with another CN, or from an untrusted CA, authenticates nobody.
    const wrongCn = await api.issueClientCertificate({ commonName: 'someone-else' });
    expect(await call(url, { cert: wrongCn })).toMatchObject({
      status: 401,
      body: { error: 'missing_token' },
    });
    expect((await call(url, { cert: wrongCn, token: await token() })).body).toMatchObject({
      verifiedBy: 'jwks',
    });
    const untrusted = await foreign.issueClientCertificate({ commonName: 'front-proxy-client' });
    expect(await call(url, { cert: untrusted })).toMatchObject({
      status: 401,
      body: { error: 'missing_token' },
    });
  });

  it('headers never stand in for a certificate', async () => {
    const url = await serve(verifier({ clientCertificate: { mode: 'accept', ca: api.clientCa } }));
    const spoofed = await call(url, {
      headers: {
        'x-remote-user': 'front-proxy-client',
        'x-client-cert': proxyClient.cert.replace(/\n/g, ''),
        'x-ssl-client-verify': 'SUCCESS',
        'x-forwarded-client-cert': 'Subject="CN=front-proxy-client"',
      },
    });
    expect(spoofed).toMatchObject({ status: 401, body: { error: 'missing_token' } });
  });

  it('the policy applies to certificate identities', async () => {
    const url = await serve(
      verifier({
        clientCertificate: { mode: 'accept', ca: api.clientCa },
        policy: { groups: ['aggregator'] },
      }),
    );
    expect((await call(url, { cert: proxyClient })).status).toBe(200);
    const outsider = await api.issueClientCertificate({
      commonName: 'front-proxy-client',
      organizations: ['other'],
    });
    expect(await call(url, { cert: outsider })).toMatchObject({ status: 403, body: { error: 'forbidden' } });
  });

  it('without `ca`, the TLS server verification (socket.authorized) decides', async () => {
    const v = verifier({ clientCertificate: { mode: 'accept', allowedOrganizations: ['aggregator'] } });
    const trusting = await serve(v, api.clientCa);
    expect((await call(trusting, { cert: proxyClient })).body).toMatchObject({
      verifiedBy: 'client-certificate',
    });
    const other = await serve(v, foreign.clientCa);
    expect(await call(other, { cert: proxyClient })).toMatchObject({ status: 401 });
  });

  it('an expired certificate is refused by our own check of the CA chain', async () => {
    const shortLived = await api.issueClientCertificate({
      commonName: 'front-proxy-client',
      validitySeconds: 3600,
    });
    const later = verifier({
      clientCertificate: { mode: 'require', ca: api.clientCa },
      now: () => Date.now() + 2 * 3600_000,
    });
    const url = await serve(later, api.clientCa);
    expect(await call(url, { cert: shortLived })).toMatchObject({
      status: 401,
      body: { error: 'invalid_client_certificate' },
    });
  });
});

describe("clientCertificate: { mode: 'require' }", () => {
  it('needs both: a verified, allowed certificate and a valid token', async () => {
    const v = verifier({
      clientCertificate: {
        mode: 'require',
        ca: api.clientCa,
        allowedCommonNames: ['front-proxy-*'],
        allowedOrganizations: ['aggregator'],
      },
    });
    const url = await serve(v);
    const both = await call(url, { cert: proxyClient, token: await token() });
    expect(both.status).toBe(200);
    expect(both.body).toMatchObject({
      username: 'system:serviceaccount:kube-system:apiserver',
      verifiedBy: 'jwks',
      clientCertificate: { commonName: 'front-proxy-client' },
    });
    expect(await call(url, { cert: proxyClient })).toMatchObject({
      status: 401,
      body: { error: 'missing_token' },
    });
    expect(await call(url, { token: await token() })).toMatchObject({
      status: 401,
      body: {
        error: 'invalid_client_certificate',
        error_description: 'a valid client certificate is required',
      },
    });
    const wrongCn = await api.issueClientCertificate({
      commonName: 'kubelet',
      organizations: ['aggregator'],
    });
    expect(await call(url, { cert: wrongCn, token: await token() })).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    const wrongO = await api.issueClientCertificate({
      commonName: 'front-proxy-client',
      organizations: ['nobody'],
    });
    expect(await call(url, { cert: wrongO, token: await token() })).toMatchObject({ status: 403 });
    const untrusted = await foreign.issueClientCertificate({
      commonName: 'front-proxy-client',
      organizations: ['aggregator'],
    });
    expect(await call(url, { cert: untrusted, token: await token() })).toMatchObject({
      status: 401,
      body: { error: 'invalid_client_certificate' },
    });
    // A certificate of the cluster's serving CA is not one of the client CA.
    expect(await call(url, { cert: serverCert, token: await token() })).toMatchObject({ status: 401 });
  });

  it('a plain HTTP request has no certificate to check', async () => {
    const v = verifier({ clientCertificate: { mode: 'require', ca: api.clientCa } });
    const server = createHttpServer((req, res) => {
      v.verify({ headers: req.headers, socket: req.socket }).then(
        () => res.end('{}'),
        (error) => {
          const rendered = renderError(error);
          res.writeHead(rendered.status, rendered.headers).end(JSON.stringify(rendered.body));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    expect(await call(url, { token: await token() })).toMatchObject({
      status: 401,
      body: { error: 'invalid_client_certificate' },
    });
  });
});

describe('clientCertificate configuration', () => {
  it('fails at construction naming the field', () => {
    const field = (options: Partial<VerifierOptions>) => {
      try {
        verifier(options);
      } catch (error) {
        expect(error).toBeInstanceOf(ApiserverTokenConfigError);
        return (error as ApiserverTokenConfigError).field;
      }
      return 'no error';
    };
    expect(field({ clientCertificate: {} as never })).toBe('clientCertificate.mode');
    expect(field({ clientCertificate: { mode: 'optional' as never } })).toBe('clientCertificate.mode');
    expect(field({ clientCertificate: { mode: 'accept', ca: 'not a pem' } })).toBe('clientCertificate.ca');
    expect(field({ clientCertificate: { mode: 'accept', ca: proxyClient.cert } })).toBe(
      'clientCertificate.ca',
    );
    expect(field({ clientCertificate: { mode: 'accept', allowedCommonNames: [] } })).toBe(
      'clientCertificate.allowedCommonNames',
    );
    expect(field({ clientCertificate: { mode: 'accept', caFile: '/nonexistent/ca.crt' } })).toBe(
      'clientCertificate.caFile',
    );
    expect(field({ env: { APISERVER_TOKEN_CLIENT_CERTIFICATE: 'sometimes' } })).toBe(
      'APISERVER_TOKEN_CLIENT_CERTIFICATE',
    );
    expect(
      field({
        env: { APISERVER_TOKEN_CLIENT_CERTIFICATE: 'accept', APISERVER_TOKEN_ALLOWED_COMMON_NAMES: ',' },
      }),
    ).toBe('no error');
  });

  it('APISERVER_TOKEN_CLIENT_* variables configure it', async () => {
    const caFile = await api.writeFile('client-ca.crt', api.clientCa);
    const v = verifier({
      env: {
        APISERVER_TOKEN_CLIENT_CERTIFICATE: 'accept',
        APISERVER_TOKEN_CLIENT_CA_FILE: caFile,
        APISERVER_TOKEN_ALLOWED_COMMON_NAMES: 'front-proxy-client',
      },
    });
    const url = await serve(v);
    expect((await call(url, { cert: proxyClient })).body).toMatchObject({ verifiedBy: 'client-certificate' });
    const other = await api.issueClientCertificate({ commonName: 'other' });
    expect((await call(url, { cert: other })).status).toBe(401);
  });
});
