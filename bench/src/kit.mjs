// The issuer every scenario verifies against: the testing kit's apiserver stand-in over real HTTPS.
import https from 'node:https';

/** Audience every benchmark token is minted for and every verifier expects (a webhook URL). */
export const AUDIENCE = 'https://bench-webhook.bench.svc:443/validate';

/** GET over HTTPS trusting only the kit's CA; resolves with the parsed JSON body. */
export function getJson(url, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        else resolve(JSON.parse(body));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

/**
 * Starts the testing kit and reads its discovery document and JWKS once, so that every worker gets the
 * same plain description (`info`) of the issuer: URLs, CA, keys.
 */
export async function startKit() {
  const { startTestApiserver } = await import('@apiserver-token/testing');
  // Both keys published from the start, so the JWKS every verifier loads has them both.
  const api = await startTestApiserver({ algorithms: ['RS256', 'ES256'] });
  const discoveryUrl = api.discoveryUrl;
  const discovery = await getJson(discoveryUrl, api.ca);
  const jwks = await getJson(discovery.jwks_uri, api.ca);
  const info = {
    url: api.url,
    issuer: api.issuer,
    discoveryUrl,
    jwksUri: discovery.jwks_uri,
    jwks,
    ca: api.ca,
    audience: AUDIENCE,
    kubeconfigPath: api.kubeconfigPath,
  };
  return { api, info };
}

/** Mints one token for the benchmark audience; `serviceAccount` makes each token distinct. */
export function mint(api, { alg = 'RS256', serviceAccount = 'webhook-auth', expiresIn = 3600 } = {}) {
  return api.mintToken({
    namespace: 'kube-system',
    serviceAccount,
    audiences: [AUDIENCE],
    expiresIn,
    alg,
  });
}

/** Mints `count` distinct tokens (distinct service-account names), a few at a time. */
export async function mintMany(api, count, { alg = 'RS256', prefix = 'bench', expiresIn = 3600 } = {}) {
  const tokens = new Array(count);
  const batch = 64;
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(count, start + batch);
    const minted = await Promise.all(
      Array.from({ length: end - start }, (_, k) =>
        mint(api, { alg, serviceAccount: `${prefix}-${start + k}`, expiresIn }),
      ),
    );
    for (let k = 0; k < minted.length; k++) tokens[start + k] = minted[k];
  }
  if (new Set(tokens).size !== count)
    throw new Error(`minted ${count} ${alg} tokens but they are not all distinct`);
  return tokens;
}
