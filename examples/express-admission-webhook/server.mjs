// Container entry point: configuration comes from the environment.
//   TLS_CERT_FILE / TLS_KEY_FILE  serving certificate (default /etc/webhook/tls/tls.crt, tls.key)
//   PORT                          default 8443
//   REQUIRED_LABEL                label every Deployment must carry (default team)
//   APISERVER_TOKEN_AUDIENCE, APISERVER_TOKEN_ISSUER, APISERVER_TOKEN_ALLOWED_SERVICE_ACCOUNTS, …
//                                 read by @apiserver-token/express itself
import { startServer } from './webhook.mjs';

const env = process.env;
const webhook = await startServer({
  tls: {
    certFile: env.TLS_CERT_FILE ?? '/etc/webhook/tls/tls.crt',
    keyFile: env.TLS_KEY_FILE ?? '/etc/webhook/tls/tls.key',
  },
  port: Number(env.PORT ?? 8443),
  requiredLabel: env.REQUIRED_LABEL || 'team',
});
process.stdout.write(`${JSON.stringify({ event: 'listening', port: webhook.port })}\n`);

// Warm the key cache so the first AdmissionReview does not wait for discovery; /readyz reports it.
webhook.guard.ready().catch((error) => {
  process.stdout.write(
    `${JSON.stringify({ event: 'not-ready', reason: String(error?.message ?? error) })}\n`,
  );
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    webhook.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
