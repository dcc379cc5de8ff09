/**
 * The classifier's input: hashed word uni/bi-grams and character 3–5-grams of a message, plus a few dense
 * structural features. The trainer (scripts/router-train) imports this very file, so training and serving
 * can never disagree on a feature.
 */
export const HASH_BITS = 15;
export const HASH_DIM = 1 << HASH_BITS;
const MASK = HASH_DIM - 1;

export const DENSE_NAMES = [
  "log_chars",
  "code_fence",
  "code_lines",
  "math_marks",
  "questions",
  "list_ask",
  "step_by_step",
  "numbers",
  "lines",
  "options",
  "ends_question",
  "very_short",
  "log_words",
  "latex",
] as const;
export const DENSE_DIM = DENSE_NAMES.length;

/** Only this much of a message is read: its head and its tail (a pasted document adds nothing past that). */
const HEAD = 1600;
const TAIL = 400;

export interface FeatureVector {
  /** Hashed feature buckets (repeats allowed: they add up). */
  idx: Int32Array;
  n: number;
  /** Weight of every hashed entry (1/sqrt(n): long and short messages score on one scale). */
  value: number;
  dense: Float32Array;
}

const CODE_LINE =
  /^\s*(def |class |import |from \S+ import|return\b|function\b|const |let |var |public |private |#include|for\s*\(|if\s*\(|while\s*\(|\}|\{|.*;\s*$|.*\)\s*\{\s*$|.*:\s*$)/;
const MATH_MARK = /[=+\-*/^<>≤≥≠∑∫√π]|\\(frac|sqrt|cdot|times|le|ge|pi|sum|int)/g;
const LIST_ASK = /\b(list|bullet|enumerate|outline|(\d+|three|five|ten) (ways|ideas|tips|examples|reasons|things|steps))\b/i;
const STEP = /step[- ]by[- ]step|think (carefully|hard)|show your (work|reasoning)/i;
const OPTIONS = /(^|\n)\s*(options:|\(?[a-e][).]\s)/i;

// Scratch buffer reused across calls: the Worker serves one request at a time per isolate.
let scratch = new Int32Array(8192);

/** Lower-case, digits folded to 0, whitespace collapsed; head and tail of long messages. */
export function normalise(text: string): string {
  const t = text.length > HEAD + TAIL ? `${text.slice(0, HEAD)} … ${text.slice(-TAIL)}` : text;
  return t.toLowerCase().replace(/\d/g, "0").replace(/\s+/g, " ").trim();
}

export function featurize(text: string): FeatureVector {
  const s = normalise(text);
  let n = 0;
  const push = (h: number) => {
    if (n === scratch.length) {
      const bigger = new Int32Array(scratch.length * 2);
      bigger.set(scratch);
      scratch = bigger;
    }
    scratch[n++] = h & MASK;
  };
  // Character 3–5-grams, FNV-1a grown one character at a time from each start.
  const padded = ` ${s} `;
  const len = padded.length;
  for (let i = 0; i + 3 <= len; i++) {
    let h = 0x811c9dc5;
    for (let k = 0; k < 5 && i + k < len; k++) {
      h = Math.imul(h ^ padded.charCodeAt(i + k), 0x01000193);
      if (k >= 2) push(Math.imul(h ^ (k + 1), 0x9e3779b1) >>> 7);
    }
  }
  // Words and word pairs.
  let prev = 0;
  let words = 0;
  let h = 0x811c9dc5;
  let inWord = false;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 32;
    const wordChar = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 39 || c > 127;
    if (wordChar) {
      h = Math.imul(h ^ c, 0x01000193);
      inWord = true;
    } else if (inWord) {
      const w = Math.imul(h ^ 0x5bd1e995, 0x85ebca6b) >>> 3;
      push(w);
      if (prev) push(Math.imul(prev ^ (w * 31), 0xc2b2ae35) >>> 5);
      prev = w;
      words++;
      h = 0x811c9dc5;
      inWord = false;
    }
  }
  const dense = new Float32Array(DENSE_DIM);
  const lines = text.split("\n", 400);
  let codeLines = 0;
  for (const line of lines) if (line.trim() && CODE_LINE.test(line)) codeLines++;
  const head = text.length > 6000 ? text.slice(0, 6000) : text;
  const questions = (head.match(/\?/g) ?? []).length;
  dense[0] = Math.log1p(text.length) / 8;
  dense[1] = head.includes("```") ? 1 : 0;
  dense[2] = lines.length > 1 ? codeLines / lines.length : 0;
  dense[3] = Math.log1p((head.match(MATH_MARK) ?? []).length) / 4;
  dense[4] = Math.log1p(questions) / 2;
  dense[5] = LIST_ASK.test(head) ? 1 : 0;
  dense[6] = STEP.test(head) ? 1 : 0;
  dense[7] = Math.log1p((head.match(/\d+(\.\d+)?/g) ?? []).length) / 4;
  dense[8] = Math.log1p(lines.length) / 4;
  dense[9] = OPTIONS.test(head) ? 1 : 0;
  dense[10] = /\?\s*$/.test(head) ? 1 : 0;
  dense[11] = text.trim().length < 40 ? 1 : 0;
  dense[12] = Math.log1p(words) / 6;
  dense[13] = /\$[^$]+\$|\\\(|\\\[|\\frac|\\boxed/.test(head) ? 1 : 0;
  return { idx: scratch.subarray(0, n), n, value: n ? 1 / Math.sqrt(n) : 0, dense };
}
