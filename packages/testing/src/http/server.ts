import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateRequest, type Caller } from '../auth/authenticate-request.js';
import { type BootstrapBinding, bootstrapAllows, isSuperuser } from '../auth/bootstrap-policy.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import type { UserDirectory, UserInfo } from '../auth/users.js';
import type { RuleAuthorizer } from '../authorizer.js';
import type { FaultTable } from '../faults.js';
import type { Minter } from '../jwt/minter.js';
import type { KeySet } from '../keys/key-set.js';
import type { ObjectRegistry } from '../registry.js';
import { fieldManager } from '../reviews/managed-fields.js';
import type { ReviewCache } from '../reviews/review-cache.js';
import { reviewSelfAccess, SELF_SUBJECT_ACCESS_REVIEW_TYPE } from '../reviews/self-subject-access-review.js';
import { reviewAccess, SUBJECT_ACCESS_REVIEW_TYPE } from '../reviews/subject-access-review.js';
import { reviewToken, TOKEN_REVIEW_TYPE } from '../reviews/token-review.js';
import { requestToken, TOKEN_REQUEST_TYPE, type TokenRequestAnswer } from '../token-request.js';
import type { DiscoveryAccess, Endpoint, Fault, KubernetesStatus, RecordedRequest } from '../types.js';
import type { VersionTraits } from '../version.js';
import { discoveryDocument, servedGroup, servedGroupVersion, versionDocument } from './api-discovery.js';
import { decodeBody, type ResourceType } from './decode.js';
import { API_MEDIA_TYPES, negotiate } from './negotiate.js';
import { OPENAPI_V2_PROTOBUF_ACCEPT, OPENAPI_V2_PROTOBUF_TYPE, openApiV2 } from './openapi.js';
import { encodeStatus, encodeTokenRequest } from './protobuf.js';
import { BodyTooLargeError, readBody } from './read-body.js';
import { nonResourceVerb, resourceInfo } from './request-info.js';
import {
  badRequestStatus,
  faultStatus,
  forbiddenPathStatus,
  forbiddenResourceStatus,
  methodNotAllowedStatus,
  notAcceptableStatus,
  notFoundStatus,
  statusObject,
  unauthorizedStatus,
} from './status.js';
import { toYaml } from './yaml.js';

/** Everything the request handler needs from the kit. */
export interface ServerState {
  issuer: string;
  jwksUri: string;
  apiAudiences: string[];
  discovery: DiscoveryAccess;
  discoveryMaxAge: number;
  anonymousAuth: boolean;
  traits: VersionTraits;
  bootstrap: readonly BootstrapBinding[];
  now: () => number;
  keys: KeySet;
  users: UserDirectory;
  authenticator: TokenAuthenticator;
  authorizer: RuleAuthorizer;
  faults: FaultTable;
  cache: ReviewCache | undefined;
  counters: Record<Endpoint, number>;
  minter: Minter;
  registry: ObjectRegistry;
  record: (request: RecordedRequest) => void;
  sleep: (ms: number) => Promise<void>;
}

interface Answer {
  status: number;
  /** A list is written as several header lines (Warning). */
  headers: Record<string, string | string[]>;
  body: string | Buffer;
}

/** Every API answer and Status error of kube-apiserver carries it; discovery 200s are public instead. */
const NO_CACHE = 'no-cache, private';
const PROTOBUF = 'application/vnd.kubernetes.protobuf';

type Route =
  | { endpoint: 'openid-configuration' | 'jwks' }
  | {
      endpoint: 'tokenreviews' | 'subjectaccessreviews' | 'selfsubjectaccessreviews';
      type: ResourceType;
      resource: string;
      group: string;
    }
  | { endpoint: 'tokenrequests'; namespace: string; name: string };

const TOKEN_REQUEST = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/;

function routeOf(pathname: string): Route | undefined {
  // kube-apiserver serves the discovery documents with or without a trailing slash.
  const path = pathname.length > 1 ? pathname.replace(/\/$/, '') : pathname;
  if (path === '/.well-known/openid-configuration') return { endpoint: 'openid-configuration' };
  if (path === '/openid/v1/jwks') return { endpoint: 'jwks' };
  if (pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
    return {
      endpoint: 'tokenreviews',
      type: TOKEN_REVIEW_TYPE,
      resource: 'tokenreviews',
      group: 'authentication.k8s.io',
    };
  }
  if (pathname === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
    return {
      endpoint: 'subjectaccessreviews',
      type: SUBJECT_ACCESS_REVIEW_TYPE,
      resource: 'subjectaccessreviews',
      group: 'authorization.k8s.io',
    };
  }
  if (pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
    return {
      endpoint: 'selfsubjectaccessreviews',
      type: SELF_SUBJECT_ACCESS_REVIEW_TYPE,
      resource: 'selfsubjectaccessreviews',
      group: 'authorization.k8s.io',
    };
  }
  const match = TOKEN_REQUEST.exec(pathname);
  if (match) {
    return {
      endpoint: 'tokenrequests',
      namespace: decodeURIComponent(match[1]!),
      name: decodeURIComponent(match[2]!),
    };
  }
  return undefined;
}

const HEALTH = new Set(['/healthz', '/livez', '/readyz']);

/** kube-apiserver pretty-prints API objects for `?pretty=true` and for curl/wget/browser user agents. */
function pretty(req: IncomingMessage, url: URL): boolean {
  const ua = req.headers['user-agent'] ?? '';
  return (
    url.searchParams.get('pretty') === 'true' ||
    ua.startsWith('curl') ||
    ua.startsWith('Wget') ||
    ua.startsWith('Mozilla/5.0')
  );
}

interface Output {
  accept: string | undefined;
  indent: boolean;
}

/** An API object in the negotiated serialization (JSON unless YAML was asked for). */
function objectAnswer(
  status: number,
  value: unknown,
  out: Output,
  extra: Record<string, string> = {},
): Answer {
  const media = negotiate(out.accept, ['application/json', 'application/yaml']) ?? 'application/json';
  return {
    status,
    headers: { 'cache-control': NO_CACHE, 'content-type': media, ...extra },
    body:
      media === 'application/yaml'
        ? toYaml(value)
        : `${JSON.stringify(value, null, out.indent ? 2 : undefined)}\n`,
  };
}

/**
 * A Status error as kube-apiserver writes it: in the Accept header's JSON, YAML or protobuf;
 * when the header names none of them, indented JSON without a final newline (its fallback).
 */
function statusAnswer(status: KubernetesStatus, out: Output): Answer {
  const headers: Record<string, string> = { 'cache-control': NO_CACHE };
  // Authorization refusals carry nosniff; 401s do not (as recorded).
  if (status.code === 403) headers['x-content-type-options'] = 'nosniff';
  const media =
    out.accept === undefined || out.accept.trim() === ''
      ? 'application/json'
      : negotiate(out.accept, API_MEDIA_TYPES);
  if (media === PROTOBUF) {
    return {
      status: status.code,
      headers: { ...headers, 'content-type': PROTOBUF },
      body: encodeStatus(status),
    };
  }
  if (media === 'application/yaml') {
    return {
      status: status.code,
      headers: { ...headers, 'content-type': 'application/yaml' },
      body: toYaml(status),
    };
  }
  return {
    status: status.code,
    headers: { ...headers, 'content-type': 'application/json' },
    body:
      media === undefined
        ? JSON.stringify(status, null, 2)
        : `${JSON.stringify(status, null, out.indent ? 2 : undefined)}\n`,
  };
}

function textAnswer(status: number, text: string, extra: Record<string, string> = {}): Answer {
  return {
    status,
    headers: {
      'cache-control': NO_CACHE,
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      ...extra,
    },
    body: text,
  };
}

/** The HTTPS request handler of the kit. */
export function createRequestHandler(
  state: ServerState,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(state, req, res).catch(() => {
      // A handler bug must not look like an apiserver verdict: answer 500 or drop the connection.
      if (!res.headersSent) {
        send(
          req,
          res,
          statusAnswer(statusObject(500, 'InternalError', 'internal error in the test apiserver'), {
            accept: undefined,
            indent: false,
          }),
        );
      } else res.destroy();
    });
  };
}

async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://apiserver.invalid');
  const out: Output = { accept: req.headers.accept, indent: pretty(req, url) };
  const route = routeOf(url.pathname);
  if (!route) {
    send(req, res, await otherPath(state, req, url, out));
    return;
  }

  const { endpoint } = route;
  state.counters[endpoint] += 1;
  const record: RecordedRequest = {
    endpoint,
    method: req.method ?? '',
    url: req.url ?? '',
    headers: { ...req.headers },
    user: '',
    status: 0,
  };
  state.record(record);

  const fault = state.faults.take(endpoint);
  if (fault?.latencyMs) await state.sleep(fault.latencyMs);
  if (fault?.down) {
    req.socket.destroy();
    return;
  }
  if (fault?.status !== undefined && !fault.reset) {
    const answer = statusAnswer(faultStatus(fault.status), out);
    if (fault.retryAfter !== undefined) answer.headers['retry-after'] = String(fault.retryAfter);
    record.status = answer.status;
    send(req, res, answer);
    return;
  }

  const answer = await answerFor(state, req, url, route, record, out);
  record.status = fault?.reset ? 0 : answer.status;
  send(req, res, answer, fault);
}

/** Paths that are not one of the counted endpoints: health, version, API discovery, 404s. */
async function otherPath(state: ServerState, req: IncomingMessage, url: URL, out: Output): Promise<Answer> {
  const caller = authenticateRequest(req, state.authenticator, state.anonymousAuth);
  if (!caller) return statusAnswer(unauthorizedStatus(), out);
  const method = req.method ?? 'GET';
  const { user } = caller;
  const info = resourceInfo(method, url.pathname);
  if (info) {
    if (!isSuperuser(user.groups)) {
      return statusAnswer(
        forbiddenResourceStatus(user.username, info.verb, info.group, info.resource, {
          ...(info.name !== undefined ? { name: info.name } : {}),
          ...(info.namespace !== undefined ? { namespace: info.namespace } : {}),
          ...(info.subresource !== undefined ? { subresource: info.subresource } : {}),
        }),
        out,
      );
    }
    // An unknown group is the mux's plain 404; a known group's unknown version or resource a Status.
    if (!servedGroup(info.group)) return textAnswer(404, '404 page not found\n');
    if (!servedGroupVersion(info.group, info.version)) return statusAnswer(notFoundStatus(), out);
    if (info.verb === 'get' && !info.subresource) {
      const kind = (
        { serviceaccounts: 'ServiceAccount', pods: 'Pod', secrets: 'Secret', nodes: 'Node' } as const
      )[info.resource as 'pods'];
      if (kind && info.group === '') {
        const object = state.registry.get(kind, info.namespace ?? '', info.name ?? '');
        if (!object) {
          return statusAnswer(
            statusObject(404, 'NotFound', `${info.resource} ${JSON.stringify(info.name)} not found`, {
              name: info.name ?? '',
              kind: info.resource,
            }),
            out,
          );
        }
        return objectAnswer(
          200,
          {
            kind,
            apiVersion: 'v1',
            metadata: {
              name: object.name,
              ...(object.namespace ? { namespace: object.namespace } : {}),
              uid: object.uid,
            },
          },
          out,
        );
      }
    }
    return statusAnswer(notFoundStatus(), out);
  }

  // Non-resource paths: RBAC's bootstrap policy (or system:masters) decides, verb = method.
  const verb = nonResourceVerb(method);
  const allowed =
    isSuperuser(user.groups) || bootstrapAllows(state.bootstrap, user.groups, verb, url.pathname);
  if (!allowed) return statusAnswer(forbiddenPathStatus(user.username, verb, url.pathname), out);
  if (HEALTH.has(url.pathname) && (method === 'GET' || method === 'HEAD')) return textAnswer(200, 'ok');
  if ((url.pathname === '/version' || url.pathname === '/version/') && method === 'GET') {
    return objectAnswer(200, versionDocument(state.traits), { accept: undefined, indent: out.indent });
  }
  if (url.pathname === '/openapi/v2' && method === 'GET') {
    const protobuf = String(req.headers.accept ?? '').includes(OPENAPI_V2_PROTOBUF_ACCEPT);
    return {
      status: 200,
      headers: {
        'cache-control': NO_CACHE,
        'content-type': protobuf ? OPENAPI_V2_PROTOBUF_TYPE : 'application/json',
        vary: 'Accept-Encoding, Accept',
      },
      body: openApiV2(state.traits, protobuf),
    };
  }
  const document = method === 'GET' ? discoveryDocument(url.pathname, state.traits) : undefined;
  if (document) return objectAnswer(200, document, out);
  return textAnswer(404, '404 page not found\n');
}

async function answerFor(
  state: ServerState,
  req: IncomingMessage,
  url: URL,
  route: Route,
  record: RecordedRequest,
  out: Output,
): Promise<Answer> {
  const caller: Caller = authenticateRequest(req, state.authenticator, state.anonymousAuth);
  if (!caller) return statusAnswer(unauthorizedStatus(), out);
  const { user } = caller;
  record.user = user.username;
  const method = req.method ?? 'GET';

  if (route.endpoint === 'openid-configuration' || route.endpoint === 'jwks') {
    // Non-resource authorization first (verb = method: an anonymous HEAD or POST is a 403), then the method.
    const verb = nonResourceVerb(method);
    const path = url.pathname;
    if (!isSuperuser(user.groups) && !bootstrapAllows(state.bootstrap, user.groups, verb, path)) {
      return statusAnswer(forbiddenPathStatus(user.username, verb, path), out);
    }
    if (method !== 'GET') return statusAnswer(methodNotAllowedStatus(), out);
    const offer = route.endpoint === 'jwks' ? 'application/jwk-set+json' : 'application/json';
    if (negotiate(out.accept, [offer]) === undefined) return statusAnswer(notAcceptableStatus([offer]), out);
    const cacheControl = `public, max-age=${state.discoveryMaxAge}`;
    const body =
      route.endpoint === 'jwks'
        ? JSON.stringify(state.keys.jwks())
        : JSON.stringify({
            issuer: state.issuer,
            jwks_uri: state.jwksUri,
            response_types_supported: ['id_token'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: state.keys.algorithms(),
          });
    return { status: 200, headers: { 'cache-control': cacheControl, 'content-type': offer }, body };
  }

  const api = route as Exclude<Route, { endpoint: 'openid-configuration' | 'jwks' }>;
  const isTokenRequest = api.endpoint === 'tokenrequests';
  // Every authenticated user may ask what it may do itself (system:basic-user).
  if (api.endpoint !== 'selfsubjectaccessreviews' && !state.users.canReview(user)) {
    const verb =
      method === 'POST'
        ? 'create'
        : method === 'GET'
          ? isTokenRequest
            ? 'get'
            : 'list'
          : method.toLowerCase();
    return statusAnswer(
      api.endpoint === 'tokenrequests'
        ? forbiddenResourceStatus(user.username, verb, '', 'serviceaccounts', {
            name: api.name,
            namespace: api.namespace,
            subresource: 'token',
          })
        : forbiddenResourceStatus(user.username, verb, api.group, api.resource),
      out,
    );
  }
  if (method !== 'POST') return statusAnswer(methodNotAllowedStatus(), out);
  const type = api.endpoint === 'tokenrequests' ? TOKEN_REQUEST_TYPE : api.type;
  // What the answer can be written in: protobuf only where the kit speaks it (TokenRequest).
  const offers = type.protobufAnswers ? API_MEDIA_TYPES : ['application/json', 'application/yaml'];
  const media = negotiate(out.accept, offers);
  if (media === undefined) return statusAnswer(notAcceptableStatus(API_MEDIA_TYPES), out);

  let raw: Buffer;
  try {
    raw = await readBody(req);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return statusAnswer(
        statusObject(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'),
        out,
      );
    }
    throw error;
  }
  const decoded = decodeBody(raw, req.headers['content-type'], type);
  if (!decoded.ok) return statusAnswer(decoded.status, out);
  record.body = decoded.object;
  // Server-side field validation: `Strict` refuses fields the type does not have, `Warn` (the
  // default) names them in Warning headers, `Ignore` drops them silently.
  const directive = url.searchParams.get('fieldValidation') || 'Warn';
  const unknown = decoded.unknownFields.map((path) => `unknown field ${JSON.stringify(path)}`);
  if (unknown.length > 0 && directive === 'Strict') {
    return statusAnswer(
      badRequestStatus(
        `${type.kind} in version ${JSON.stringify(type.version)} cannot be handled as a ${type.kind}: strict decoding error: ${unknown.join(', ')}`,
      ),
      out,
    );
  }
  // Go writes a header's UTF-8 bytes as they are; Node writes a header string as latin1 and
  // refuses characters past U+00FF, so the text goes as its UTF-8 bytes spelled in latin1.
  const warnings =
    directive === 'Warn'
      ? unknown.map((text) => Buffer.from(`299 - ${JSON.stringify(text)}`, 'utf8').toString('latin1'))
      : [];
  const answer = await createAnswer(state, api, decoded.object, url, req, user, media, out);
  // Like kube-apiserver's warning recorder, on whatever the request answers.
  if (warnings.length > 0) answer.headers.warning = warnings;
  return answer;
}

async function createAnswer(
  state: ServerState,
  api: Exclude<Route, { endpoint: 'openid-configuration' | 'jwks' }>,
  object: Record<string, unknown>,
  url: URL,
  req: IncomingMessage,
  user: UserInfo,
  media: string,
  out: Output,
): Promise<Answer> {
  const decoded = { object };
  const manager = fieldManager(url.searchParams.get('fieldManager'), req.headers['user-agent']);

  if (api.endpoint === 'tokenrequests') {
    const answer = requestToken(api.namespace, api.name, decoded.object, manager, {
      minter: state.minter,
      registry: state.registry,
      now: state.now,
      apiAudiences: () => state.apiAudiences,
    });
    if (answer.status !== 201) return statusAnswer(answer.body as KubernetesStatus, out);
    if (media === PROTOBUF) return protobufTokenRequest(answer.token!);
    return objectAnswer(answer.status, answer.body, out);
  }
  if (api.endpoint === 'selfsubjectaccessreviews') {
    const answer = reviewSelfAccess(
      decoded.object,
      manager,
      state.users.canReview(user),
      state.now(),
      state.traits.nullCreationTimestamp,
    );
    if (answer.status !== 201) return statusAnswer(answer.body as KubernetesStatus, out);
    return objectAnswer(answer.status, answer.body, out);
  }
  const review =
    api.endpoint === 'tokenreviews'
      ? reviewToken(decoded.object, manager, {
          authenticator: state.authenticator,
          apiAudiences: () => state.apiAudiences,
          cache: state.cache,
          now: state.now,
          nullCreationTimestamp: state.traits.nullCreationTimestamp,
        })
      : await reviewAccess(
          decoded.object,
          manager,
          state.authorizer,
          state.now(),
          state.traits.nullCreationTimestamp,
        );
  if (review.status !== 201) return statusAnswer(review.body as KubernetesStatus, out);
  return objectAnswer(review.status, review.body, out);
}

function protobufTokenRequest(answer: TokenRequestAnswer): Answer {
  const ms = (t: string) => Date.parse(t);
  const ref = answer.spec.boundObjectRef;
  return {
    status: 201,
    headers: { 'cache-control': NO_CACHE, 'content-type': PROTOBUF },
    body: encodeTokenRequest({
      metadata: {
        name: answer.metadata.name,
        namespace: answer.metadata.namespace,
        uid: answer.metadata.uid,
        creationTimestamp: ms(answer.metadata.creationTimestamp),
        managedFields: answer.metadata.managedFields.map((m) => ({
          manager: String(m.manager),
          operation: String(m.operation),
          apiVersion: String(m.apiVersion),
          time: ms(String(m.time)),
          fieldsType: String(m.fieldsType),
          fieldsV1: m.fieldsV1,
          ...(m.subresource ? { subresource: String(m.subresource) } : {}),
        })),
      },
      spec: {
        audiences: answer.spec.audiences,
        expirationSeconds: answer.spec.expirationSeconds,
        boundObjectRef: ref,
      },
      status: { token: answer.status.token, expirationTimestamp: ms(answer.status.expirationTimestamp) },
    }),
  };
}

// API Priority and Fairness names the flow schema and priority level on every answer; the kit
// has one of each (their UIDs are stable for the process, as a cluster's are).
const FLOW_SCHEMA_UID = randomUUID();
const PRIORITY_LEVEL_UID = randomUUID();

function send(req: IncomingMessage, res: ServerResponse, answer: Answer, fault?: Fault): void {
  let body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
  const headers: Record<string, string | string[] | number> = {
    'audit-id': randomUUID(),
    ...answer.headers,
    // Authentication runs before priority and fairness: a 401 carries no flow schema.
    ...(answer.status === 401
      ? {}
      : {
          'x-kubernetes-pf-flowschema-uid': FLOW_SCHEMA_UID,
          'x-kubernetes-pf-prioritylevel-uid': PRIORITY_LEVEL_UID,
        }),
  };
  if (fault?.reset) {
    // Promise the whole body, deliver half of it, then cut the connection.
    headers['content-length'] = body.length;
    res.writeHead(answer.status, headers);
    res.write(body.subarray(0, Math.max(1, body.length >> 1)), () => res.destroy());
    return;
  }
  if (fault?.malformed) body = body.subarray(0, Math.max(1, body.length >> 1));
  headers['content-length'] = body.length;
  res.writeHead(answer.status, headers);
  // HEAD answers carry the headers only.
  res.end(req.method === 'HEAD' ? undefined : body);
}
