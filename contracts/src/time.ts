/** True for an IANA time zone name the runtime knows (Intl throws a RangeError on any other). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
