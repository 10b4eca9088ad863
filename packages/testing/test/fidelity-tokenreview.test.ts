import { createPublicKey, type JsonWebKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ObjectKind,
  type SigningAlgorithm,
  startTestApiserver,
  type TestApiserver,
} from '../src/index.js';
import { call, decodeJwt, shapeOf } from './helpers.js';

// The fidelity suite, TokenReview part: every TokenReview recorded from the three v1.36.3 clusters
// (RSA key: cases.json; EC key: es256/; an RSA and an EC key: two-keys/) replayed against a kit
// set up like that cluster (issuer, API audiences, keys in the same order), its clock at the
// recording's time and the pretend cluster in the recorded state. Each recorded token is replaced
// by its equivalent from the kit: the recorded header and claims, signed by the kit's key where
// the recorded cluster's key had signed it, and broken the same way where it was forged. The
// answer must be what was recorded: status word for word and metadata exactly.

const ROOT = new URL('../../../test/fixtures/kube-apiserver-v1.36.3/', import.meta.url);

interface CaseFile {
  issuer: string;
  apiAudiences: string[];
  leewaySeconds: number;
  cases: Array<{ id: string; at: string; token: string; files: [string, string] }>;
}
interface Review {
  kind: string;
  apiVersion: string;
  metadata: Record<string, unknown>;
  spec: { token: string; audiences?: string[] };
  status: Record<string, unknown>;
}
type Jwk = JsonWebKey & { kid: string; alg: SigningAlgorithm };

/** What happened in the recorded cluster just before a review (deletions, re-creations). */
const STATE_CHANGES: Record<string, Array<[op: 'delete' | 'create', ObjectKind, string, string, string?]>> = {
  'tokenreview/31-deleted-sa-after': [['delete', 'ServiceAccount', 'demo', 'doomed']],
  'tokenreview/32b-deleted-sa-recreated-11s': [
    ['create', 'ServiceAccount', 'demo', 'reborn', '8f7d2978-0495-4856-86b1-e9d5fa0d7c64'],
  ],
  'tokenreview/2x-forged-no-kid': [
    ['create', 'ServiceAccount', 'demo', 'webhook-client', 'f18a4274-f537-480c-9382-33e53a5729aa'],
  ],
  'pod-bound/03-pod-deleted-immediate': [['delete', 'Pod', 'demo', 'p1']],
  'pod-bound/05-pod-recreated-11s': [['create', 'Pod', 'demo', 'p1', '1836945a-cc61-4be8-ac9c-198996e85453']],
  'pod-bound/08-secret-bound-deleted': [['delete', 'Secret', 'demo', 'bindme']],
  'pod-bound/13-node-bound-node-deleted': [['delete', 'Node', '', 'node-1']],
  'legacy-secret-token/04-legacy-secret-deleted': [['delete', 'Secret', 'demo', 'webhook-client-legacy']],
};

const FOLDERS = ['', 'es256/', 'two-keys/'] as const;
const json = <T>(path: string): T => JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as T;

/** Go's ECDSA signature in ASN.1 DER instead of JOSE's raw r‖s: the recorded `der-signature` forgery. */
function toDer(raw: Buffer): Buffer {
  const integer = (bytes: Buffer) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    let value = bytes.subarray(i);
    if ((value[0] ?? 0) & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
    return Buffer.concat([Buffer.from([0x02, value.length]), value]);
  };
  const half = raw.length / 2;
  const body = Buffer.concat([integer(raw.subarray(0, half)), integer(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** The recorded key (index in the recorded JWKS) whose signature the token carries, or -1. */
function recordedSigner(token: string, keys: Jwk[]): number {
  const [h, p, s] = token.split('.') as [string, string, string];
  const alg = decodeJwt(token).header.alg;
  return keys.findIndex(
    (key) =>
      key.alg === alg &&
      verify(
        'sha256',
        Buffer.from(`${h}.${p}`),
        { key: createPublicKey({ key: key, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
        Buffer.from(s, 'base64url'),
      ),
  );
}

describe.each(FOLDERS.map((folder) => [folder || 'rsa/', folder] as const))(
  'fidelity: every TokenReview recorded from kube-apiserver v1.36.3 (%s), replayed',
  (_label, folder) => {
    const caseFile = json<CaseFile>(`${folder}cases.json`);
    const recordedKeys = json<{ keys: Jwk[] }>(`${folder}discovery/jwks.json`).keys;
    const replay = [...caseFile.cases].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    let now = 0;
    let api: TestApiserver;
    const equivalents = new Map<string, string>();
    const seen = new Set<string>();

    beforeAll(async () => {
      api = await startTestApiserver({
        issuer: caseFile.issuer,
        apiAudiences: caseFile.apiAudiences,
        leewaySeconds: caseFile.leewaySeconds,
        algorithms: recordedKeys.map((k) => k.alg),
        now: () => now,
      });
    });
    afterAll(() => api.close());

    /** Objects named by a token exist, with the token's UIDs, from their first mention on. */
    function ensureObjects(claims: Record<string, unknown>): void {
      const k8s = claims['kubernetes.io'] as
        | ({ namespace: string } & Record<string, { name: string; uid?: string } | string>)
        | undefined;
      if (!k8s) return;
      const kinds: Array<[string, ObjectKind, boolean]> = [
        ['serviceaccount', 'ServiceAccount', true],
        ['pod', 'Pod', true],
        ['secret', 'Secret', true],
        ['node', 'Node', false],
      ];
      for (const [claim, kind, namespaced] of kinds) {
        const ref = k8s[claim] as { name: string; uid?: string } | undefined;
        const namespace = namespaced ? k8s.namespace : '';
        const key = `${kind}/${namespace}/${ref?.name}`;
        if (!ref?.uid || seen.has(key)) continue;
        seen.add(key);
        api.createObject(kind, namespace, ref.name, { uid: ref.uid });
      }
    }

    /** The kit's counterpart of a recorded token; the same one each time (the success cache is keyed by it). */
    async function equivalentToken(id: string, recorded: string): Promise<string> {
      const known = equivalents.get(recorded);
      if (known) return known;
      const token = await mintEquivalent(id, recorded);
      equivalents.set(recorded, token);
      return token;
    }

    async function mintEquivalent(id: string, recorded: string): Promise<string> {
      const parts = recorded.split('.');
      const bootstrap = /^([a-z0-9]{6})\.([a-z0-9]{16})$/.exec(recorded);
      if (bootstrap) {
        // The recorded cluster's bootstrap token, with the extra groups its successful review reported.
        const groups = replay
          .map((c) => json<Review>(`${folder}${c.files[1]}`))
          .filter((r) => r.spec.token === recorded && r.status.authenticated)
          .flatMap((r) => (r.status.user as { groups: string[] }).groups)
          .filter((g) => g.startsWith('system:bootstrappers:'));
        api.addBootstrapToken({
          id: bootstrap[1]!,
          secret: bootstrap[2]!,
          extraGroups: [...new Set(groups)],
        });
        return recorded;
      }
      if (parts.length !== 3 || !parts[0]!.startsWith('ey')) return recorded; // garbage: as it is
      const { header, claims } = decodeJwt(recorded);
      if (claims.iss === 'kubernetes/serviceaccount') {
        return api.mintLegacyToken({
          namespace: claims['kubernetes.io/serviceaccount/namespace'] as string,
          serviceAccount: claims['kubernetes.io/serviceaccount/service-account.name'] as string,
          serviceAccountUid: claims['kubernetes.io/serviceaccount/service-account.uid'] as string,
          secretName: claims['kubernetes.io/serviceaccount/secret.name'] as string,
        });
      }
      ensureObjects(claims);
      const k8s = claims['kubernetes.io'] as {
        namespace: string;
        serviceaccount: { name: string; uid: string };
      };
      const recordedKid = recordedKeys.findIndex((k) => k.kid === header.kid);
      const kid =
        header.kid === undefined
          ? null
          : recordedKid >= 0
            ? api.keys()[recordedKid]!.kid
            : String(header.kid);
      const alg = header.alg as string;
      const signable = !alg.startsWith('HS') && alg !== 'none';
      const signer = signable ? recordedSigner(recorded, recordedKeys) : -1;
      const mint = (extra: Parameters<TestApiserver['mintToken']>[0] = {}) =>
        api.mintToken({
          namespace: k8s.namespace,
          serviceAccount: k8s.serviceaccount.name,
          serviceAccountUid: k8s.serviceaccount.uid,
          claims,
          jti: false,
          notBefore: null,
          kid,
          ...extra,
        });
      if (signer >= 0) return mint({ alg: alg as SigningAlgorithm });
      if (!signable) {
        // alg none / HS256 keyed with the public key: the recorded header (with the kit's kid) and
        // the recorded signature bytes.
        const forgedHeader = Buffer.from(
          JSON.stringify({ ...header, ...(kid !== null ? { kid } : {}) }),
        ).toString('base64url');
        const [, payload] = (await mint()).split('.');
        return `${forgedHeader}.${payload}.${parts[2]}`;
      }
      if (id.includes('tampered-payload')) return mint({ alg: alg as SigningAlgorithm, tamper: 'payload' });
      if (id.includes('tampered-sig')) return mint({ alg: alg as SigningAlgorithm, tamper: 'signature' });
      if (id.includes('der-signature')) {
        const [h, p, s] = (await mint({ alg: alg as SigningAlgorithm })).split('.') as [
          string,
          string,
          string,
        ];
        return `${h}.${p}.${toDer(Buffer.from(s, 'base64url')).toString('base64url')}`;
      }
      // Signed by a key the recorded cluster did not publish (a foreign key, or the other type's kid).
      return mint({ alg: alg as SigningAlgorithm, signWith: 'foreign' });
    }

    it('covers every recorded review', () => {
      const expected = { '': 58, 'es256/': 10, 'two-keys/': 7 }[folder];
      expect(replay.length).toBe(expected);
      expect(api.jwks().keys.map((k) => [k.kty, k.alg])).toEqual(recordedKeys.map((k) => [k.kty, k.alg]));
    });

    it.each(replay.map((c) => [c.id, c] as const))('%s', async (id, c) => {
      const request = json<{ spec: { token: string; audiences?: string[] } }>(`${folder}${c.files[0]}`);
      const recorded = json<Review>(`${folder}${c.files[1]}`);
      now = Date.parse(c.at);
      for (const [op, kind, namespace, name, uid] of STATE_CHANGES[id] ?? []) {
        seen.add(`${kind}/${namespace}/${name}`);
        if (op === 'delete') api.deleteObject(kind, namespace, name);
        else api.createObject(kind, namespace, name, { uid: uid! });
      }
      const token = await equivalentToken(id, request.spec.token);
      const res = await call(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
        token: api.reviewer.token,
        body: { ...request, spec: { ...request.spec, token } },
        headers: { 'user-agent': 'recorder' },
      });
      expect(res.status).toBe(201);
      const review = res.json() as Review;
      expect(Object.keys(review)).toEqual(Object.keys(recorded));
      expect(review.metadata).toEqual(recorded.metadata);
      expect(review.spec.audiences).toEqual(recorded.spec.audiences);
      expect(shapeOf(review.status)).toEqual(shapeOf(recorded.status));
      expect(review.status).toEqual(recorded.status);
    });
  },
);
