// Container entry point: configuration comes from the environment.
//   TLS_CERT_FILE / TLS_KEY_FILE  serving certificate (default /etc/webhook/tls/tls.crt, tls.key)
//   PORT                          webhook port, default 8443
//   METRICS_PORT                  Prometheus port (GET /metrics), default 9090
//   APISERVER_TOKEN_AUDIENCE, APISERVER_TOKEN_ISSUER, …  read by @apiserver-token/express itself
import { startWebhook } from './webhook.mjs';

const env = process.env;
const webhook = await startWebhook({
  tls: {
    certFile: env.TLS_CERT_FILE ?? '/etc/webhook/tls/tls.crt',
    keyFile: env.TLS_KEY_FILE ?? '/etc/webhook/tls/tls.key',
  },
  port: Number(env.PORT ?? 8443),
  metricsPort: Number(env.METRICS_PORT ?? 9090),
});
process.stdout.write(
  `${JSON.stringify({ event: 'listening', port: webhook.port, metricsPort: webhook.metricsPort })}\n`,
);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    webhook.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
