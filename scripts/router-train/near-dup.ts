// Near-duplicate detection between prompt sets: the check that keeps the evaluation honest (no reserved
// test prompt, nor a copy of one with a different wrapper, in the training data or in our own held-out set).
// Used by build-data.ts to drop such prompts and by router:eval to prove none is left.

/** Lower-case words (letters and digits only): punctuation, spacing and case do not hide a copy. */
export const words = (s: string) => s.toLowerCase().match(/[a-z0-9]+/g) ?? [];

const SHINGLE = 5;
/** Share of the shorter prompt's 5-word shingles found in the other: above this, one is a copy of the other. */
export const CONTAINMENT = 0.5;
/**
 * Below this many words a shared phrase is not a copy ("how long does it take to …" starts many questions):
 * a short prompt is a copy only when every one of its shingles is in the other prompt.
 */
const SHORT = 12;

function shingles(ws: string[]): string[] {
  const out = new Set<string>();
  for (let i = 0; i + SHINGLE <= ws.length; i++) out.add(ws.slice(i, i + SHINGLE).join(" "));
  return [...out];
}

/** An index of one prompt set (the reserved test prompts), asked of every prompt of another set. */
export class NearDupIndex {
  private readonly exact = new Map<string, number>();
  private readonly byShingle = new Map<string, number[]>();
  private readonly sizes: number[] = [];
  private readonly lengths: number[] = [];

  constructor(readonly texts: readonly string[]) {
    texts.forEach((t, id) => {
      const ws = words(t);
      this.exact.set(ws.join(" "), id);
      const sh = shingles(ws);
      this.sizes.push(sh.length);
      this.lengths.push(ws.length);
      for (const s of sh) {
        const ids = this.byShingle.get(s);
        if (ids) ids.push(id);
        else this.byShingle.set(s, [id]);
      }
    });
  }

  /** The index of an indexed prompt that `text` copies (or that copies it), or -1. */
  match(text: string): number {
    const ws = words(text);
    const whole = this.exact.get(ws.join(" "));
    if (whole !== undefined) return whole;
    if (ws.length < SHINGLE) return -1;
    const sh = shingles(ws);
    const hits = new Map<number, number>();
    for (const s of sh) for (const id of this.byShingle.get(s) ?? []) hits.set(id, (hits.get(id) ?? 0) + 1);
    for (const [id, n] of hits) {
      const smaller = Math.min(sh.length, this.sizes[id]!);
      const short = Math.min(ws.length, this.lengths[id]!) < SHORT;
      if (smaller > 0 && n / smaller >= (short ? 1 : CONTAINMENT)) return id;
    }
    return -1;
  }
}
