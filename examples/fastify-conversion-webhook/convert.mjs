/**
 * Conversion between the two versions of the `Widget` custom resource (`widgets.example.com`):
 *
 * - `example.com/v1alpha1`: `spec.hostPort` is one string, `"db.example.com:5432"`.
 * - `example.com/v1`:       `spec.host` (string) and `spec.port` (integer, 1–65535).
 *
 * Every other field (metadata, status, the rest of spec) is carried over untouched, as
 * kube-apiserver requires of a conversion webhook; the conversion is lossless both ways.
 */

export const GROUP = 'example.com';
export const VERSIONS = /** @type {const} */ (['v1alpha1', 'v1']);

/**
 * Converts one Widget to `desiredAPIVersion`.
 * @param {any} object a Widget in any served version
 * @param {string} desiredAPIVersion `example.com/v1alpha1` or `example.com/v1`
 * @returns {any} the converted copy
 * @throws {Error} with a message for the ConversionReview's `result`, when it cannot be converted
 */
export function convertWidget(object, desiredAPIVersion) {
  const from = versionOf(object?.apiVersion);
  const to = versionOf(desiredAPIVersion);
  if (object?.kind !== 'Widget')
    throw new Error(`expected a Widget, got kind ${JSON.stringify(object?.kind)}`);
  const converted = structuredClone(object);
  converted.apiVersion = `${GROUP}/${to}`;
  if (from === to || converted.spec === undefined) return converted;
  const name = object.metadata?.name ?? '(unnamed)';
  if (to === 'v1') {
    const { hostPort, ...rest } = converted.spec;
    if (hostPort === undefined) return converted;
    const match = /^(?<host>[^:\s]+|\[[0-9a-fA-F:.]+\]):(?<port>\d{1,5})$/.exec(String(hostPort));
    const port = Number(match?.groups?.port);
    if (match?.groups === undefined || port < 1 || port > 65535) {
      throw new Error(`Widget ${name}: spec.hostPort ${JSON.stringify(hostPort)} is not host:port`);
    }
    converted.spec = { ...rest, host: match.groups.host, port };
    return converted;
  }
  const { host, port, ...rest } = converted.spec;
  if (host === undefined && port === undefined) return converted;
  if (typeof host !== 'string' || !Number.isInteger(port)) {
    throw new Error(`Widget ${name}: spec.host and spec.port must both be set to convert to v1alpha1`);
  }
  converted.spec = { ...rest, hostPort: `${host}:${port}` };
  return converted;
}

/**
 * Answers a `apiextensions.k8s.io/v1` ConversionReview: every object converted, or a Failure
 * result naming the first that could not be (kube-apiserver then fails the request).
 * @param {any} review
 */
export function answerConversionReview(review) {
  const { uid, desiredAPIVersion, objects } = review.request;
  try {
    const convertedObjects = objects.map((/** @type {any} */ object) =>
      convertWidget(object, desiredAPIVersion),
    );
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: { uid, convertedObjects, result: { status: 'Success' } },
    };
  } catch (error) {
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: {
        uid,
        convertedObjects: [],
        result: { status: 'Failure', message: error instanceof Error ? error.message : String(error) },
      },
    };
  }
}

/**
 * True for the ConversionReview shape kube-apiserver sends.
 * @param {any} body
 */
export function isConversionReview(body) {
  const request = body?.request;
  return (
    body?.apiVersion === 'apiextensions.k8s.io/v1' &&
    body?.kind === 'ConversionReview' &&
    typeof request?.uid === 'string' &&
    typeof request?.desiredAPIVersion === 'string' &&
    Array.isArray(request?.objects)
  );
}

/** @param {unknown} apiVersion */
function versionOf(apiVersion) {
  const [group, version] = String(apiVersion).split('/');
  if (group !== GROUP || !VERSIONS.includes(/** @type {any} */ (version))) {
    throw new Error(`unsupported apiVersion ${JSON.stringify(apiVersion)}`);
  }
  return /** @type {'v1alpha1' | 'v1'} */ (version);
}
