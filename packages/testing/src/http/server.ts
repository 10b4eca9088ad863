import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateRequest, type Caller } from '../auth/authenticate-request.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import type { UserDirectory } from '../auth/users.js';
import type { RuleAuthorizer } from '../authorizer.js';
import type { FaultTable } from '../faults.js';
import type { Minter } from '../jwt/minter.js';
import type { KeySet } from '../keys/key-set.js';
import type { ObjectRegistry } from '../registry.js';
import { fieldManager } from '../reviews/managed-fields.js';
import type { ReviewCache } from '../reviews/review-cache.js';
import { reviewSelfAccess } from '../reviews/self-subject-access-review.js';
import { reviewAccess } from '../reviews/subject-access-review.js';
import { reviewToken } from '../reviews/token-review.js';
import { requestToken } from '../token-request.js';
import type { DiscoveryAccess, Endpoint, Fault, KubernetesStatus, RecordedRequest } from '../types.js';
import { BodyTooLargeError, readBody } from './read-body.js';
import {
  badRequestStatus,
  faultStatus,
  forbiddenPathStatus,
  forbiddenResourceStatus,
  methodNotAllowedStatus,
  notFoundStatus,
  statusObject,
  unauthorizedStatus,
} from './status.js';

/** Everything the request handler needs from the kit. */
export interface ServerState {
  issuer: string;
  jwksUri: string;
  apiAudiences: string[];
  discovery: DiscoveryAccess;
  discoveryMaxAge: number;
  anonymousAuth: boolean;
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
  headers: Record<string, string>;
  body: string;
}

const ROUTES: Record<string, { endpoint: Endpoint; method: 'GET' | 'POST' }> = {
  '/.well-known/openid-configuration': { endpoint: 'openid-configuration', method: 'GET' },
  '/openid/v1/jwks': { endpoint: 'jwks', method: 'GET' },
  '/apis/authentication.k8s.io/v1/tokenreviews': { endpoint: 'tokenreviews', method: 'POST' },
  '/apis/authorization.k8s.io/v1/subjectaccessreviews': { endpoint: 'subjectaccessreviews', method: 'POST' },
  '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews': {
    endpoint: 'selfsubjectaccessreviews',
    method: 'POST',
  },
};

const TOKEN_REQUEST = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/;

type Route = { endpoint: Endpoint; method: 'GET' | 'POST'; namespace?: string; name?: string };

function routeOf(pathname: string): Route | undefined {
  const fixed = ROUTES[pathname];
  if (fixed) return fixed;
  const match = TOKEN_REQUEST.exec(pathname);
  if (!match) return undefined;
  return {
    endpoint: 'tokenrequests',
    method: 'POST',
    namespace: decodeURIComponent(match[1]!),
    name: decodeURIComponent(match[2]!),
  };
}

const KINDS: Record<Endpoint, string> = {
  'openid-configuration': 'OpenIDConfiguration',
  jwks: 'JSONWebKeySet',
  tokenreviews: 'TokenReview',
  subjectaccessreviews: 'SubjectAccessReview',
  selfsubjectaccessreviews: 'SelfSubjectAccessReview',
  tokenrequests: 'TokenRequest',
};

const HEALTH = new Set(['/healthz', '/livez', '/readyz']);

/** kube-apiserver pretty-prints API objects for `?pretty=true` and for curl/wget user agents. */
function pretty(req: IncomingMessage, url: URL): boolean {
  const ua = (req.headers['user-agent'] ?? '').toLowerCase();
  return url.searchParams.get('pretty') === 'true' || ua.startsWith('curl') || ua.startsWith('wget');
}

function apiObject(status: number, value: unknown, indent: boolean): Answer {
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: `${JSON.stringify(value, null, indent ? 2 : undefined)}\n`,
  };
}

function statusAnswer(status: KubernetesStatus, indent: boolean): Answer {
  return apiObject(status.code, status, indent);
}

/** The HTTPS request handler of the kit. */
export function createRequestHandler(
  state: ServerState,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(state, req, res).catch(() => {
      // A handler bug must not look like an apiserver verdict: answer 500 or drop the connection.
      if (!res.headersSent)
        send(
          res,
          statusAnswer(statusObject(500, 'InternalError', 'internal error in the test apiserver'), false),
        );
      else res.destroy();
    });
  };
}

async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://apiserver.invalid');
  const indent = pretty(req, url);
  if (HEALTH.has(url.pathname)) {
    send(res, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'ok' });
    return;
  }
  const route = routeOf(url.pathname);
  if (!route) {
    const caller = authenticateRequest(req, state.authenticator, state.anonymousAuth);
    send(res, statusAnswer(caller ? notFoundStatus() : unauthorizedStatus(), indent));
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
    const answer = statusAnswer(faultStatus(fault.status), indent);
    if (fault.retryAfter !== undefined) answer.headers['retry-after'] = String(fault.retryAfter);
    record.status = answer.status;
    send(res, answer);
    return;
  }

  const answer = await answerFor(state, req, url, route, record, indent);
  record.status = fault?.reset ? 0 : answer.status;
  send(res, answer, fault);
}

async function answerFor(
  state: ServerState,
  req: IncomingMessage,
  url: URL,
  route: Route,
  record: RecordedRequest,
  indent: boolean,
): Promise<Answer> {
  const caller: Caller = authenticateRequest(req, state.authenticator, state.anonymousAuth);
  if (!caller) return statusAnswer(unauthorizedStatus(), indent);
  record.user = caller.user.username;
  if (req.method !== route.method) return statusAnswer(methodNotAllowedStatus(), indent);

  if (route.endpoint === 'openid-configuration' || route.endpoint === 'jwks') {
    if (state.discovery === 'authenticated' && caller.anonymous) {
      return statusAnswer(forbiddenPathStatus(caller.user.username, 'get', url.pathname), indent);
    }
    const cacheControl = `public, max-age=${state.discoveryMaxAge}`;
    if (route.endpoint === 'jwks') {
      return {
        status: 200,
        headers: { 'content-type': 'application/jwk-set+json', 'cache-control': cacheControl },
        body: JSON.stringify(state.keys.jwks()),
      };
    }
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': cacheControl },
      body: JSON.stringify({
        issuer: state.issuer,
        jwks_uri: state.jwksUri,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: state.keys.algorithms(),
      }),
    };
  }

  const isTokenReview = route.endpoint === 'tokenreviews';
  const selfReview = route.endpoint === 'selfsubjectaccessreviews';
  if (!selfReview && !state.users.canReview(caller.user)) {
    if (route.endpoint === 'tokenrequests') {
      return statusAnswer(
        statusObject(
          403,
          'Forbidden',
          `serviceaccounts ${JSON.stringify(route.name)} is forbidden: User ${JSON.stringify(caller.user.username)} cannot create resource "serviceaccounts/token" in API group "" in the namespace ${JSON.stringify(route.namespace)}`,
          { name: route.name!, kind: 'serviceaccounts' },
        ),
        indent,
      );
    }
    const [group, resource] = isTokenReview
      ? ['authentication.k8s.io', 'tokenreviews']
      : ['authorization.k8s.io', 'subjectaccessreviews'];
    return statusAnswer(forbiddenResourceStatus(caller.user.username, 'create', group, resource), indent);
  }

  let parsed: unknown;
  try {
    const raw = await readBody(req);
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return statusAnswer(
        statusObject(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'),
        indent,
      );
    }
    return statusAnswer(
      badRequestStatus(
        `the object provided is unrecognized (must be of type ${KINDS[route.endpoint]}): couldn't get version/kind; json parse error`,
      ),
      indent,
    );
  }
  record.body = parsed;
  const manager = fieldManager(url.searchParams.get('fieldManager'), req.headers['user-agent']);
  if (route.endpoint === 'tokenrequests') {
    const answer = requestToken(route.namespace!, route.name!, parsed, {
      minter: state.minter,
      registry: state.registry,
      now: state.now,
      apiAudiences: () => state.apiAudiences,
    });
    return apiObject(answer.status, answer.body, indent);
  }
  if (selfReview) {
    const answer = reviewSelfAccess(parsed, manager, state.users.canReview(caller.user), state.now());
    return apiObject(answer.status, answer.body, indent);
  }
  const review = isTokenReview
    ? reviewToken(parsed, manager, {
        authenticator: state.authenticator,
        apiAudiences: () => state.apiAudiences,
        cache: state.cache,
        now: state.now,
      })
    : await reviewAccess(parsed, manager, state.authorizer, state.now());
  return apiObject(review.status, review.body, indent);
}

function send(res: ServerResponse, answer: Answer, fault?: Fault): void {
  let body = Buffer.from(answer.body);
  const headers: Record<string, string | number> = { 'audit-id': randomUUID(), ...answer.headers };
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
  res.end(body);
}
