import { goJsonSyntaxError, goJsonType, summarizeBody } from '../lib/go-json.js';
import type { KubernetesStatus } from '../types.js';
import { decodeUnknown, ProtobufError } from './protobuf.js';
import { badRequestStatus, unsupportedMediaTypeStatus } from './status.js';

/** What a resource accepts in a request body, and the Go types of the fields it reads. */
export interface ResourceType {
  kind: string;
  group: string;
  version: string;
  /** Go package of the internal type (`authentication`, `authorization`). */
  internalPackage: string;
  /** Decodes a protobuf request's `raw` into the JSON shape. */
  protobuf: (raw: Buffer) => Record<string, unknown>;
  /** Whether the kit can also answer in protobuf (else JSON or YAML). */
  protobufAnswers?: boolean;
  /** `[json path, Go struct field name, Go type, JSON check]` for the fields whose type matters. */
  fields: Array<{ path: string[]; goField: string; goType: string; accepts: (v: unknown) => boolean }>;
  /** The JSON fields the Go type has, for server-side field validation (`fieldValidation`). */
  known: FieldTree;
}

/** Known JSON field names; `true` = anything below is accepted (maps, lists, types not walked). */
export type FieldTree = { [field: string]: FieldTree | true };

/** `metav1.ObjectMeta`'s fields. */
export const OBJECT_META: FieldTree = Object.fromEntries(
  [
    'name',
    'generateName',
    'namespace',
    'selfLink',
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'labels',
    'annotations',
    'ownerReferences',
    'finalizers',
    'managedFields',
  ].map((f) => [f, true]),
);

/** A top-level object: `apiVersion`, `kind`, `metadata` and the type's own fields. */
export function objectFields(own: FieldTree): FieldTree {
  return { apiVersion: true, kind: true, metadata: OBJECT_META, ...own };
}

/** The fields of a JSON object its Go type does not have, as sigs.k8s.io/json names them (`spec.foo`), in body order. */
export function unknownFields(value: Record<string, unknown>, tree: FieldTree, prefix = ''): string[] {
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const known = tree[key];
    if (known === undefined) found.push(path);
    else if (known !== true && isObject(child)) {
      found.push(...unknownFields(child as Record<string, unknown>, known, path));
    }
  }
  return found;
}

/** Kinds of the API groups the kit serves, for "cannot be handled as" messages. */
const KNOWN_KINDS = new Set([
  'TokenReview',
  'TokenRequest',
  'SelfSubjectReview',
  'SubjectAccessReview',
  'SelfSubjectAccessReview',
  'LocalSubjectAccessReview',
  'SelfSubjectRulesReview',
]);

export const isString = (v: unknown) => typeof v === 'string';
export const isStringList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
export const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
export const isInteger = (v: unknown) => typeof v === 'number' && Number.isInteger(v);

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function get(value: unknown, path: string[]): unknown {
  let v: unknown = value;
  for (const key of path) {
    if (!isObject(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/**
 * Decodes a create request's body as kube-apiserver's codecs do, or returns the Status it would
 * answer: 415 for a media type it does not decode, 400 with Go's wording for bad JSON, a foreign
 * kind or a field of the wrong JSON type. JSON and YAML-that-is-JSON are read; protobuf where the
 * resource type supports it.
 */
export function decodeBody(
  body: Buffer,
  contentType: string | undefined,
  type: ResourceType,
):
  | { ok: true; object: Record<string, unknown>; unknownFields: string[] }
  | { ok: false; status: KubernetesStatus } {
  const media = mediaType(contentType);
  const accepted = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
  if (!accepted.includes(media)) return { ok: false, status: unsupportedMediaTypeStatus(accepted) };
  const unrecognized = (reason: string) =>
    badRequestStatus(
      `the object provided is unrecognized (must be of type ${type.kind}): ${reason} (${summarizeBody(body)})`,
    );

  let object: Record<string, unknown>;
  if (media === 'application/vnd.kubernetes.protobuf') {
    try {
      const envelope = decodeUnknown(body);
      if (envelope.kind !== type.kind) {
        return {
          ok: false,
          status: cannotHandle(envelope.kind, envelope.apiVersion, type, 'unknown conversion'),
        };
      }
      object = { apiVersion: envelope.apiVersion, kind: envelope.kind, ...type.protobuf(envelope.raw) };
    } catch (error) {
      if (error instanceof ProtobufError) return { ok: false, status: unrecognized(error.message) };
      throw error;
    }
  } else {
    const text = body.toString('utf8');
    const syntax = goJsonSyntaxError(text);
    if (syntax !== undefined) {
      // YAML that is not JSON is not read by the kit: it answers as for malformed input.
      return { ok: false, status: unrecognized(`couldn't get version/kind; json parse error: ${syntax}`) };
    }
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) {
      return {
        ok: false,
        status: unrecognized(
          `couldn't get version/kind; json parse error: json: cannot unmarshal ${goJsonType(parsed)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`,
        ),
      };
    }
    object = parsed as Record<string, unknown>;
  }

  // Protobuf cannot carry fields the type does not have; JSON can.
  const unknown = media === 'application/vnd.kubernetes.protobuf' ? [] : unknownFields(object, type.known);
  const kind = typeof object.kind === 'string' ? object.kind : '';
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
  if (kind !== '' && kind !== type.kind) {
    return { ok: false, status: cannotHandle(kind, apiVersion, type, 'unknown conversion') };
  }
  for (const field of type.fields) {
    const value = get(object, field.path);
    if (value !== undefined && value !== null && !field.accepts(value)) {
      const jsonType =
        Array.isArray(value) && field.goType.startsWith('[]')
          ? goJsonType(value.find((x) => !isString(x)))
          : goJsonType(value);
      const goType =
        Array.isArray(value) && field.goType.startsWith('[]') ? field.goType.slice(2) : field.goType;
      return {
        ok: false,
        status: badRequestStatus(
          `${type.kind} in version ${JSON.stringify(type.version)} cannot be handled as a ${type.kind}: json: cannot unmarshal ${jsonType} into Go struct field ${field.goField}.${field.path.join('.')} of type ${goType}`,
        ),
      };
    }
  }
  return { ok: true, object, unknownFields: unknown };
}

function cannotHandle(kind: string, apiVersion: string, type: ResourceType, why: string): KubernetesStatus {
  const version = apiVersion.includes('/') ? apiVersion.split('/')[1]! : apiVersion || type.version;
  if (!KNOWN_KINDS.has(kind)) {
    return badRequestStatus(
      `no kind ${JSON.stringify(kind)} is registered for version ${JSON.stringify(apiVersion || `${type.group}/${type.version}`)} in scheme "pkg/api/legacyscheme/scheme.go:30"`,
    );
  }
  return badRequestStatus(
    `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${type.kind}: converting (${version}.${kind}) to (${type.internalPackage}.${type.kind}): ${why}`,
  );
}
