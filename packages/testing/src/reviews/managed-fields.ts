/** `metadata` of a review response: the managedFields entry the apiserver records for the create. */
export function reviewMetadata(
  apiVersion: string,
  spec: Record<string, unknown>,
  manager: string,
  nowMs: number,
): Record<string, unknown> {
  return {
    creationTimestamp: null,
    managedFields: [
      {
        manager,
        operation: 'Update',
        apiVersion,
        time: new Date(Math.floor(nowMs / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': fieldSet(spec, false) },
      },
    ],
  };
}

function fieldSet(value: Record<string, unknown>, withDot: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = withDot ? { '.': {} } : {};
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[`f:${key}`] =
      typeof v === 'object' && !Array.isArray(v) ? fieldSet(v as Record<string, unknown>, true) : {};
  }
  return out;
}

/** The field manager kube-apiserver derives: `?fieldManager=` or the user agent up to its first `/`. */
export function fieldManager(fieldManagerParam: string | null, userAgent: string | undefined): string {
  if (fieldManagerParam) return fieldManagerParam;
  return (userAgent ?? '').split('/')[0] || 'unknown';
}
