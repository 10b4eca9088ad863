/**
 * What a denial needs of an AdmissionReview — `kind`, `apiVersion`, `request.uid` — read from the
 * head of its JSON text, without the rest. kube-apiserver serializes them first (Go's field
 * order: `kind`, `apiVersion`, then `request` with `uid` as its first field), so the first few
 * hundred bytes of a multi-megabyte review hold them. Anything else found first is skipped;
 * a head that ends before them yields what was found.
 */

export interface ReviewHead {
  kind?: string;
  apiVersion?: string;
  request?: { uid?: string };
}

const WHITESPACE = new Set([' ', '\t', '\r', '\n']);

class Scanner {
  index = 0;
  constructor(readonly text: string) {}

  /** The character at the cursor (a method, so that the compiler does not narrow it across moves). */
  peek(): string | undefined {
    return this.text[this.index];
  }

  space(): void {
    while (this.index < this.text.length && WHITESPACE.has(this.text[this.index] as string)) this.index++;
  }

  /** At a `"`: the string's value, or undefined when it is cut off or invalid. */
  string(): string | undefined {
    const start = this.index;
    let at = start + 1;
    while (at < this.text.length) {
      const char = this.text[at];
      if (char === '\\') at += 2;
      else if (char === '"') break;
      else at++;
    }
    if (at >= this.text.length) return undefined;
    this.index = at + 1;
    try {
      return JSON.parse(this.text.slice(start, at + 1)) as string;
    } catch {
      return undefined;
    }
  }

  /** Skips one value; false when the text ends inside it. */
  skip(): boolean {
    const first = this.peek();
    if (first === '"') return this.string() !== undefined;
    if (first === '{' || first === '[') {
      let depth = 0;
      while (this.index < this.text.length) {
        const char = this.peek();
        if (char === '"') {
          if (this.string() === undefined) return false;
          continue;
        }
        if (char === '{' || char === '[') depth++;
        else if (char === '}' || char === ']') depth--;
        this.index++;
        if (depth === 0) return true;
      }
      return false;
    }
    while (this.index < this.text.length && !',}] \t\r\n'.includes(this.peek() as string)) this.index++;
    return this.index < this.text.length;
  }

  /**
   * At a `{`: calls `onMember` at each member's value (which must consume it, or return false to
   * have it skipped); stops when `done()` or when the text ends. True when the object was read to
   * its closing `}`.
   */
  object(onMember: (key: string) => boolean, done: () => boolean): boolean {
    if (this.peek() !== '{') return false;
    this.index++;
    this.space();
    if (this.peek() === '}') {
      this.index++;
      return true;
    }
    for (;;) {
      this.space();
      if (this.peek() !== '"') return false;
      const key = this.string();
      if (key === undefined) return false;
      this.space();
      if (this.peek() !== ':') return false;
      this.index++;
      this.space();
      if (!onMember(key) && !this.skip()) return false;
      if (done()) return false;
      this.space();
      if (this.peek() === '}') {
        this.index++;
        return true;
      }
      if (this.peek() !== ',') return false;
      this.index++;
    }
  }
}

/** `kind`, `apiVersion` and `request.uid` of the AdmissionReview whose JSON text begins with `head`. */
export function readReviewHead(head: string): ReviewHead {
  const scanner = new Scanner(head.charCodeAt(0) === 0xfeff ? head.slice(1) : head);
  const found: ReviewHead = {};
  // Set when `request` was left unfinished: what follows is not at the top level.
  let stop = false;
  const done = () =>
    stop || (found.kind !== undefined && found.apiVersion !== undefined && found.request?.uid !== undefined);
  scanner.space();
  scanner.object((key) => {
    if ((key === 'kind' || key === 'apiVersion') && scanner.peek() === '"') {
      const value = scanner.string();
      if (value !== undefined) found[key] = value;
      return value !== undefined;
    }
    if (key === 'request' && scanner.peek() === '{') {
      const request: { uid?: string } = {};
      found.request = request;
      stop = !scanner.object(
        (member) => {
          if (member !== 'uid' || scanner.peek() !== '"') return false;
          const uid = scanner.string();
          if (uid !== undefined) request.uid = uid;
          return uid !== undefined;
        },
        // On to the end of `request` when the head holds it: what follows is top-level again.
        () => false,
      );
      return true;
    }
    return false;
  }, done);
  return found;
}
