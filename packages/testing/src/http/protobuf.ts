// Kubernetes' protobuf wire format, for the few types the kit speaks: what `kubectl create token`
// sends (a TokenRequest) and what it must read back (a TokenRequest or a Status). A body is the
// magic `k8s\0` and a runtime.Unknown {typeMeta{apiVersion, kind}, raw, contentEncoding,
// contentType} whose `raw` is the object (field numbers from k8s.io/api generated.proto).

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Thrown for bytes that are not a Kubernetes protobuf object. */
export class ProtobufError extends Error {}

// ---- writing ----------------------------------------------------------------------------------

function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

type Field = Buffer;
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const bytesField = (field: number, data: Buffer): Field =>
  Buffer.concat([tag(field, 2), varint(data.length), data]);
const str = (field: number, value: string): Field => bytesField(field, Buffer.from(value, 'utf8'));
const int = (field: number, value: number): Field => Buffer.concat([tag(field, 0), varint(value)]);
const msg = (field: number, parts: Field[]): Field => bytesField(field, Buffer.concat(parts));

/** metav1.Time: seconds and nanos; the zero time is an empty message. */
function time(field: number, ms: number | undefined): Field {
  return msg(field, ms === undefined ? [] : [int(1, Math.floor(ms / 1000)), int(2, 0)]);
}

function objectMeta(meta: ProtoObjectMeta): Buffer[] {
  return [
    str(1, meta.name ?? ''),
    str(2, ''),
    str(3, meta.namespace ?? ''),
    str(4, ''),
    str(5, meta.uid ?? ''),
    str(6, ''),
    int(7, 0),
    time(8, meta.creationTimestamp),
    ...(meta.managedFields ?? []).map((m) =>
      msg(17, [
        str(1, m.manager),
        str(2, m.operation),
        str(3, m.apiVersion),
        time(4, m.time),
        str(6, m.fieldsType),
        msg(7, [bytesField(1, Buffer.from(JSON.stringify(m.fieldsV1)))]),
        str(8, m.subresource ?? ''),
      ]),
    ),
  ];
}

function unknown(apiVersion: string, kind: string, raw: Buffer): Buffer {
  return Buffer.concat([
    MAGIC,
    msg(1, [str(1, apiVersion), str(2, kind)]),
    bytesField(2, raw),
    str(3, ''),
    str(4, ''),
  ]);
}

export interface ProtoObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  /** ms since the epoch. */
  creationTimestamp?: number;
  managedFields?: Array<{
    manager: string;
    operation: string;
    apiVersion: string;
    time: number;
    fieldsType: string;
    fieldsV1: unknown;
    subresource?: string;
  }>;
}

export interface ProtoBoundObjectRef {
  kind?: string;
  apiVersion?: string;
  name?: string;
  uid?: string;
}

/** A TokenRequest answer as protobuf. */
export function encodeTokenRequest(value: {
  metadata: ProtoObjectMeta;
  spec: { audiences: string[]; expirationSeconds: number; boundObjectRef?: ProtoBoundObjectRef | null };
  status: { token: string; expirationTimestamp: number };
}): Buffer {
  const ref = value.spec.boundObjectRef;
  const raw = Buffer.concat([
    msg(1, objectMeta(value.metadata)),
    msg(2, [
      ...value.spec.audiences.map((a) => str(1, a)),
      ...(ref
        ? [
            msg(3, [
              str(1, ref.kind ?? ''),
              str(2, ref.apiVersion ?? ''),
              str(3, ref.name ?? ''),
              str(4, ref.uid ?? ''),
            ]),
          ]
        : []),
      int(4, value.spec.expirationSeconds),
    ]),
    msg(3, [str(1, value.status.token), time(2, value.status.expirationTimestamp)]),
  ]);
  return unknown('authentication.k8s.io/v1', 'TokenRequest', raw);
}

/** A `Status` (errors) as protobuf. */
export function encodeStatus(status: {
  status: string;
  message: string;
  reason: string;
  code: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: Array<{ reason?: string; message?: string; field?: string }>;
  };
}): Buffer {
  const d = status.details;
  const raw = Buffer.concat([
    msg(1, [str(1, ''), str(2, ''), str(3, '')]),
    str(2, status.status),
    str(3, status.message),
    str(4, status.reason),
    ...(d
      ? [
          msg(5, [
            str(1, d.name ?? ''),
            str(2, d.group ?? ''),
            str(3, d.kind ?? ''),
            ...(d.causes ?? []).map((c) =>
              msg(4, [str(1, c.reason ?? ''), str(2, c.message ?? ''), str(3, c.field ?? '')]),
            ),
            int(5, 0),
            str(6, ''),
          ]),
        ]
      : []),
    int(6, status.code),
  ]);
  return unknown('v1', 'Status', raw);
}

// ---- reading ----------------------------------------------------------------------------------

type Decoded = Map<number, Array<bigint | Buffer>>;

function decodeMessage(data: Buffer): Decoded {
  const fields: Decoded = new Map();
  let i = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= data.length || shift > 63n) throw new ProtobufError('truncated varint');
      const byte = data[i++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < data.length) {
    const key = Number(readVarint());
    const field = key >> 3;
    const wire = key & 7;
    let value: bigint | Buffer;
    if (wire === 0) value = readVarint();
    else if (wire === 2) {
      const length = Number(readVarint());
      if (i + length > data.length) throw new ProtobufError('truncated field');
      value = data.subarray(i, i + length);
      i += length;
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      if (i + size > data.length) throw new ProtobufError('truncated field');
      value = data.subarray(i, i + size);
      i += size;
    } else throw new ProtobufError(`unsupported wire type ${wire}`);
    const list = fields.get(field) ?? [];
    list.push(value);
    fields.set(field, list);
  }
  return fields;
}

const text = (m: Decoded, f: number): string | undefined => {
  const v = m.get(f)?.at(-1);
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
};
const texts = (m: Decoded, f: number): string[] =>
  (m.get(f) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
const sub = (m: Decoded, f: number): Decoded | undefined => {
  const v = m.get(f)?.at(-1);
  return Buffer.isBuffer(v) ? decodeMessage(v) : undefined;
};
const num = (m: Decoded, f: number): bigint | undefined => {
  const v = m.get(f)?.at(-1);
  return typeof v === 'bigint' ? v : undefined;
};

/** The envelope of a protobuf body: its type and the object's bytes. */
export function decodeUnknown(body: Buffer): { apiVersion: string; kind: string; raw: Buffer } {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) {
    throw new ProtobufError(
      'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]',
    );
  }
  const unknownMsg = decodeMessage(body.subarray(4));
  const typeMeta = sub(unknownMsg, 1);
  const raw = unknownMsg.get(2)?.at(-1);
  return {
    apiVersion: (typeMeta && text(typeMeta, 1)) ?? '',
    kind: (typeMeta && text(typeMeta, 2)) ?? '',
    raw: Buffer.isBuffer(raw) ? raw : Buffer.alloc(0),
  };
}

/** A protobuf TokenRequest as the JSON object the kit's TokenRequest handler reads. */
export function decodeTokenRequest(raw: Buffer): Record<string, unknown> {
  const m = decodeMessage(raw);
  const meta = sub(m, 1);
  const spec = sub(m, 2);
  const metadata: Record<string, unknown> = {};
  if (meta) {
    const name = text(meta, 1);
    const uid = text(meta, 5);
    if (name) metadata.name = name;
    if (uid) metadata.uid = uid;
  }
  const out: Record<string, unknown> = { metadata, spec: {} };
  if (spec) {
    const s: Record<string, unknown> = {};
    const audiences = texts(spec, 1);
    if (audiences.length > 0) s.audiences = audiences;
    const seconds = num(spec, 4);
    if (seconds !== undefined) s.expirationSeconds = Number(BigInt.asIntN(64, seconds));
    const ref = sub(spec, 3);
    if (ref) {
      const r: Record<string, string> = {};
      for (const [f, k] of [
        [1, 'kind'],
        [2, 'apiVersion'],
        [3, 'name'],
        [4, 'uid'],
      ] as const) {
        const v = text(ref, f);
        if (v) r[k] = v;
      }
      s.boundObjectRef = r;
    }
    out.spec = s;
  }
  return out;
}

/** A protobuf TokenReview (request) as JSON: `spec.token`, `spec.audiences`. */
export function decodeTokenReview(raw: Buffer): Record<string, unknown> {
  const spec = sub(decodeMessage(raw), 2);
  if (!spec) return { spec: {} };
  const audiences = texts(spec, 2);
  return { spec: { token: text(spec, 1) ?? '', ...(audiences.length > 0 ? { audiences } : {}) } };
}

/** A protobuf SubjectAccessReview (request) as JSON. */
export function decodeSubjectAccessReview(raw: Buffer): Record<string, unknown> {
  const spec = sub(decodeMessage(raw), 2);
  if (!spec) return { spec: {} };
  const out: Record<string, unknown> = {};
  const ra = sub(spec, 1);
  if (ra) {
    const names = ['', 'namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];
    out.resourceAttributes = Object.fromEntries(
      names.flatMap((name, field) => {
        const v = field > 0 ? text(ra, field) : undefined;
        return v ? [[name, v]] : [];
      }),
    );
  }
  const nra = sub(spec, 2);
  if (nra) out.nonResourceAttributes = { path: text(nra, 1) ?? '', verb: text(nra, 2) ?? '' };
  const user = text(spec, 3);
  if (user) out.user = user;
  const groups = texts(spec, 4);
  if (groups.length > 0) out.groups = groups;
  const extra: Record<string, string[]> = {};
  for (const entry of spec.get(5) ?? []) {
    if (!Buffer.isBuffer(entry)) continue;
    const kv = decodeMessage(entry);
    const value = sub(kv, 2);
    extra[text(kv, 1) ?? ''] = value ? texts(value, 1) : [];
  }
  if (Object.keys(extra).length > 0) out.extra = extra;
  const uid = text(spec, 6);
  if (uid) out.uid = uid;
  return { spec: out };
}
