// The first syntax error of a JSON text in the words of Go's encoding/json, which kube-apiserver
// quotes in its 400 answers (e.g. "invalid character 'o' in literal null (expecting 'u')").

class GoSyntaxError extends Error {}

function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20) return `'${JSON.stringify(c).slice(1, -1)}'`;
  return `'${c}'`;
}

/** Go's message for the first syntax error of `text`, or undefined if it is valid JSON. */
export function goJsonSyntaxError(text: string): string | undefined {
  let i = 0;
  const fail = (context: string): never => {
    if (i >= text.length) throw new GoSyntaxError('unexpected end of JSON input');
    throw new GoSyntaxError(`invalid character ${quoteChar(text[i]!)} ${context}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (let k = 1; k < word.length; k++) {
      i++;
      if (text[i] !== word[k]) fail(`in literal ${word} (expecting '${word[k]}')`);
    }
    i++;
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if ((text.codePointAt(i) ?? 0) < 0x20) fail('in string literal');
      i++;
    }
    if (i >= text.length) fail('');
    i++;
  };
  const number = () => {
    if (text[i] === '-') i++;
    if (!/[0-9]/.test(text[i] ?? '')) fail('in numeric literal');
    while (/[0-9.eE+-]/.test(text[i] ?? '')) i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === undefined) fail('');
    else if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('looking for beginning of object key string');
        string();
        ws();
        if (text[i] !== ':') fail('after object key');
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail('after object key:value pair');
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail('after array element');
      }
    } else if (c === '"') string();
    else if (c === 'n') literal('null');
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === '-' || /[0-9]/.test(c)) number();
    else fail('looking for beginning of value');
  };
  try {
    value();
    ws();
    if (i < text.length) fail('after top-level value');
    return undefined;
  } catch (error) {
    if (error instanceof GoSyntaxError) return error.message;
    throw error;
  }
}

/** apiserver's summary of a body it could not decode: the text if it looks like JSON, else hex (30 bytes at most). */
export function summarizeBody(data: Buffer): string {
  if (data.length === 0) return '<empty>';
  const head = data.subarray(0, 30);
  const more = data.length > 30 ? ' ...' : '';
  return data[0] === 0x7b ? `${head.toString('utf8')}${more}` : `${head.toString('hex')}${more}`;
}

/** Go's name for the JSON type of a value, as in "cannot unmarshal string into …". */
export function goJsonType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'boolean') return 'bool';
  return typeof value;
}
