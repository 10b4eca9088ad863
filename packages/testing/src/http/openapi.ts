// `/openapi/v2`: what `kubectl create -f` downloads before it sends an object (client-side
// validation with `--validate=true`, kubectl's default). The kit serves a document without
// definitions: kubectl then finds no schema for the kind, skips client-side validation (as it
// does for any kind the document does not describe) and sends the object with
// `fieldValidation=Strict`. `/openapi/v3` is not served (404): kubectl falls back to v2, as it
// does against an apiserver without OpenAPI v3.
import type { VersionTraits } from '../version.js';

/** The media type kubectl asks for (gnostic's OpenAPI v2 protobuf), and the one the answer carries. */
export const OPENAPI_V2_PROTOBUF_ACCEPT = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';
export const OPENAPI_V2_PROTOBUF_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

function field(number: number, value: Buffer): Buffer {
  // Length-delimited fields only; lengths below 128 need one varint byte, longer ones two.
  const length = value.length < 0x80 ? [value.length] : [(value.length & 0x7f) | 0x80, value.length >> 7];
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...length]), value]);
}

/**
 * gnostic's `openapi_v2.Document` with `swagger: "2.0"` and `info {title, version}` only (fields 1
 * and 2 of Document, 1 and 2 of Info), or the same as JSON.
 */
export function openApiV2(traits: VersionTraits, protobuf: boolean): Buffer {
  if (!protobuf) {
    return Buffer.from(
      JSON.stringify({
        swagger: '2.0',
        info: { title: 'Kubernetes', version: traits.gitVersion },
        paths: {},
      }),
    );
  }
  const info = Buffer.concat([field(1, Buffer.from('Kubernetes')), field(2, Buffer.from(traits.gitVersion))]);
  return Buffer.concat([field(1, Buffer.from('2.0')), field(2, info)]);
}
