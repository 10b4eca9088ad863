// A YAML writer for API answers, in the layout of sigs.k8s.io/yaml (go-yaml v2 over JSON): keys
// sorted, two-space indentation, sequences at their key's indentation, `|-` for multi-line text.

const NON_STRING =
  /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|0x[0-9a-fA-F_]+|0o?[0-7_]+|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?)$/;

function scalar(value: string): string {
  if (value === '') return '""';
  if (NON_STRING.test(value)) return JSON.stringify(value);
  const special =
    /^[-?:,[\]{}#&*!|>'"%@`\s]/.test(value) ||
    /: |\s#|:$|\s$/.test(value) ||
    [...value].some((c) => c.charCodeAt(0) < 0x20);
  return special ? `'${value.replaceAll("'", "''")}'` : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function lines(value: unknown, indent: string): string[] {
  if (isObject(value)) {
    const out: string[] = [];
    for (const key of Object.keys(value).sort()) out.push(...entry(scalar(key), value[key], indent));
    return out;
  }
  return [`${indent}${inline(value)}`];
}

function inline(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return scalar(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return '[]';
  return '{}';
}

function entry(key: string, value: unknown, indent: string): string[] {
  if (typeof value === 'string' && value.includes('\n')) {
    return [`${indent}${key}: |-`, ...value.split('\n').map((l) => (l === '' ? '' : `${indent}  ${l}`))];
  }
  if (isObject(value) && Object.keys(value).length > 0) {
    return [`${indent}${key}:`, ...lines(value, `${indent}  `)];
  }
  if (Array.isArray(value) && value.length > 0) {
    return [`${indent}${key}:`, ...value.flatMap((item) => sequenceItem(item, indent))];
  }
  return [`${indent}${key}: ${inline(value)}`];
}

function sequenceItem(item: unknown, indent: string): string[] {
  if (isObject(item) && Object.keys(item).length > 0) {
    const [first = '', ...rest] = lines(item, `${indent}  `);
    return [`${indent}- ${first.slice(indent.length + 2)}`, ...rest];
  }
  return [`${indent}- ${inline(item)}`];
}

/** A JSON value as YAML, ending with a newline. */
export function toYaml(value: unknown): string {
  return `${lines(value, '').join('\n')}\n`;
}
