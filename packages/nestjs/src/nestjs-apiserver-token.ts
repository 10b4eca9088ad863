import type { IncomingMessage } from 'node:http';
import {
  type AdapterControls,
  type ApiserverIdentity,
  createHttpAuthenticator,
  type HttpAuthenticator,
  handOnParsedBody,
  pinoHttpLoggerOf,
  type VerifyApiserverTokenOptions,
} from '@apiserver-token/core';
import {
  type CanActivate,
  createParamDecorator,
  type DynamicModule,
  type ExecutionContext,
  type FactoryProvider,
  HttpException,
  Inject,
  Injectable,
  Module,
  type ModuleMetadata,
  type OnModuleDestroy,
} from '@nestjs/common';

/** Injection token of the shared HTTP layer the guard runs (one per `forRoot`). */
export const APISERVER_TOKEN_AUTHENTICATOR: unique symbol = Symbol('@apiserver-token/nestjs authenticator');

type Http = HttpAuthenticator<ExecutionContext>;
type Imports = ModuleMetadata['imports'];

/** Options of {@link ApiserverTokenModule.forRoot}; hooks receive the route's `ExecutionContext`. */
export type NestApiserverTokenOptions = VerifyApiserverTokenOptions<ExecutionContext>;

/** Options of {@link ApiserverTokenModule.forRootAsync}, as Nest's other `forRootAsync` modules take them. */
export interface ApiserverTokenModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** Providers handed to `useFactory`, in order (e.g. `ConfigService`). */
  inject?: FactoryProvider['inject'];
  /** Builds the options, possibly asynchronously. */
  useFactory: (...args: never[]) => NestApiserverTokenOptions | Promise<NestApiserverTokenOptions>;
}

/**
 * A rejection, thrown by {@link ApiserverTokenGuard}: Nest's exception filter sends its body with
 * its status (401/403/503, or 200 for an AdmissionReview denial), the guard having set the headers
 * (`WWW-Authenticate`, `Retry-After`, `Cache-Control`, `Content-Type`). `cause` is the
 * `ApiserverTokenError` (or the unexpected error behind a 503), for your own filters.
 */
export class ApiserverTokenException extends HttpException {
  constructor(cause: unknown, response: { status: number; body: object }) {
    super(response.body, response.status, { cause });
  }
}

/** What the guard reads of Express and Fastify requests (Fastify's own request wraps `raw`). */
type PlatformRequest = Pick<IncomingMessage, 'headers' | 'rawHeaders' | 'socket'> & {
  raw?: IncomingMessage;
  body?: unknown;
  apiserver?: ApiserverIdentity;
};

/** The HTTP layer; verdicts go to nestjs-pino's (pino-http's) logger, on Express or Fastify's raw request. */
const http = (options: NestApiserverTokenOptions): Http =>
  createHttpAuthenticator(options, { requestLogger: (c) => pinoHttpLoggerOf(c.switchToHttp().getRequest()) });

/**
 * Lets a request through only if it carries a valid token from a kube-apiserver, and sets the
 * identity for {@link Apiserver}. Use with `@UseGuards(ApiserverTokenGuard)` or as `APP_GUARD`,
 * after `ApiserverTokenModule.forRoot()`. HTTP only (Express or Fastify platform).
 */
@Injectable()
export class ApiserverTokenGuard implements CanActivate {
  readonly verifier: AdapterControls['verifier'];
  constructor(@Inject(APISERVER_TOKEN_AUTHENTICATOR) private readonly http: Http) {
    this.verifier = http.verifier;
  }
  /** Resolves once the verifier's keys are loaded; await it before reporting ready. */
  ready(): Promise<void> {
    return this.http.ready();
  }
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<PlatformRequest>();
    const { headers, rawHeaders, socket } = req.raw ?? req;
    // Express leaves the stream unread when no parser ran; Fastify has always consumed it.
    const stream = req.raw ? undefined : (req as IncomingMessage);
    const outcome = await this.http.authenticate(
      { headers, rawHeaders, socket, body: req.body, stream },
      context,
    );
    // Observe mode (enforce: false): a refused request goes on too, without an identity.
    if (outcome.ok || outcome.observed === true) {
      // Read from the stream (an app with `bodyParser: false`): hand it on.
      if (outcome.body !== undefined) handOnParsedBody(req, outcome.body);
      req.apiserver = outcome.ok ? outcome.identity : undefined;
      return true;
    }
    // Express and Fastify replies both have header(); the exception filter keeps what is set here.
    const res = context.switchToHttp().getResponse<{ header(name: string, value: string): unknown }>();
    for (const [name, value] of Object.entries(outcome.response.headers)) res.header(name, value);
    throw new ApiserverTokenException(outcome.error, outcome.response);
  }
}

/** Parameter decorator: the verified identity of a route guarded by {@link ApiserverTokenGuard}. */
export const Apiserver: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): ApiserverIdentity | undefined =>
    context.switchToHttp().getRequest<PlatformRequest>().apiserver,
);

/**
 * Provides {@link ApiserverTokenGuard} to the whole app (a global module). The verifier is created
 * when the app is, so bad options fail `NestFactory.create`; it is closed with the app.
 */
@Module({})
export class ApiserverTokenModule implements OnModuleDestroy {
  constructor(@Inject(APISERVER_TOKEN_AUTHENTICATOR) private readonly http: Http) {}
  onModuleDestroy(): Promise<void> {
    return this.http.close();
  }
  /** Options as for the other adapters; each can also come from an `APISERVER_TOKEN_*` variable. */
  static forRoot(options: NestApiserverTokenOptions = {}): DynamicModule {
    return ApiserverTokenModule.of([], { useFactory: () => http(options) });
  }
  /** Options built by a factory with injected providers (e.g. `ConfigService`). */
  static forRootAsync(options: ApiserverTokenModuleAsyncOptions): DynamicModule {
    const { imports = [], inject = [], useFactory } = options;
    return ApiserverTokenModule.of(imports, {
      inject,
      useFactory: async (...args: never[]) => http(await useFactory(...args)),
    });
  }
  private static of(imports: Imports, factory: Omit<FactoryProvider, 'provide'>): DynamicModule {
    const providers = [{ provide: APISERVER_TOKEN_AUTHENTICATOR, ...factory }, ApiserverTokenGuard];
    const exports = [APISERVER_TOKEN_AUTHENTICATOR, ApiserverTokenGuard];
    return { module: ApiserverTokenModule, global: true, imports, providers, exports };
  }
}
