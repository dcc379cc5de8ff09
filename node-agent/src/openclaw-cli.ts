/**
 * The JSON an `openclaw … --json` command printed. The CLI may print a banner line before its JSON, so the
 * document starts at the first bracket; no JSON at all reads as an empty object, broken JSON throws.
 */
export function cliJson(stdout: string): Record<string, unknown> {
  const text = stdout.trim();
  const start = text.search(/[[{]/);
  return start >= 0 ? JSON.parse(text.slice(start)) : {};
}
