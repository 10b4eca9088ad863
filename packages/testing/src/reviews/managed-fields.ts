/** An RFC 3339 time to the second, as Kubernetes writes `metav1.Time`. */
export function kubeTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The managedFields entry the apiserver records for a create (`subresource` for TokenRequest). */
export function managedFieldsEntry(
  apiVersion: string,
  spec: Record<string, unknown>,
  manager: string,
  nowMs: number,
  subresource?: string,
): Record<string, unknown> {
  // TokenRequest's nested structs are recorded without the "." entry that reviews' have.
  const dotted = subresource === undefined;
  return {
    manager,
    operation: 'Update',
    apiVersion,
    time: kubeTime(nowMs),
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:spec': fieldSet(spec, false, dotted) },
    ...(subresource ? { subresource } : {}),
  };
}

/**
 * `metadata` of a review response: the managedFields entry of the create, and in 1.28 a
 * `creationTimestamp: null` that 1.36 no longer writes.
 */
export function reviewMetadata(
  apiVersion: string,
  spec: Record<string, unknown>,
  manager: string,
  nowMs: number,
  nullCreationTimestamp: boolean,
): Record<string, unknown> {
  return {
    ...(nullCreationTimestamp ? { creationTimestamp: null } : {}),
    managedFields: [managedFieldsEntry(apiVersion, spec, manager, nowMs)],
  };
}

function fieldSet(value: Record<string, unknown>, withDot: boolean, dotted = true): Record<string, unknown> {
  const out: Record<string, unknown> = withDot ? { '.': {} } : {};
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[`f:${key}`] =
      typeof v === 'object' && !Array.isArray(v)
        ? fieldSet(v as Record<string, unknown>, dotted, dotted)
        : {};
  }
  return out;
}

/** The field manager kube-apiserver derives: `?fieldManager=` or the user agent up to its first `/`. */
export function fieldManager(fieldManagerParam: string | null, userAgent: string | undefined): string {
  if (fieldManagerParam) return fieldManagerParam;
  return (userAgent ?? '').split('/')[0] || 'unknown';
}
